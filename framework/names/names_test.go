package names

import (
	"net/netip"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	now := time.Unix(1000, 0)
	a := netip.MustParseAddr("10.0.0.2")
	tb := New(2)
	tb.Observe("pod1", "web.test", a, 2*time.Second, now)
	if name, stale, ok := tb.Lookup("pod1", netip.MustParseAddr("::ffff:10.0.0.2"), now.Add(time.Second)); !ok || stale || name != "web.test" {
		t.Errorf("Lookup within the TTL = %q, %v, %v", name, stale, ok)
	}
	if name, stale, ok := tb.Lookup("pod1", a, now.Add(3*time.Second)); !ok || !stale || name != "web.test" {
		t.Errorf("Lookup after the TTL = %q, %v, %v; want it stale", name, stale, ok)
	}
	if _, _, ok := tb.Lookup("pod2", a, now); ok {
		t.Error("pod2 sees the name pod1 resolved")
	}
	tb.Observe("pod1", "other.test", a, time.Minute, now.Add(4*time.Second))
	if name, stale, _ := tb.Lookup("pod1", a, now.Add(5*time.Second)); name != "other.test" || stale {
		t.Errorf("after a new answer: %q, stale %v", name, stale)
	}
	// Full: a new entry replaces the expired one.
	tb.Observe("pod2", "short.test", a, time.Second, now)
	tb.Observe("pod3", "new.test", a, time.Minute, now.Add(10*time.Second))
	if tb.Len() != 2 {
		t.Fatalf("%d entries, want at most 2", tb.Len())
	}
	if _, _, ok := tb.Lookup("pod2", a, now); ok {
		t.Error("the expired entry was kept and a live one evicted")
	}
}
