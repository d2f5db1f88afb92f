package networkgraph

import "testing"

func TestKernelBTFSharedWhileUsed(t *testing.T) {
	var k kernelBTF
	a := k.acquire()
	if b := k.acquire(); b != a {
		t.Fatal("a second trace got another cache while the first runs")
	}
	k.release()
	if k.cache != a {
		t.Fatal("the cache was dropped while a trace still uses it")
	}
	k.release()
	if k.cache != nil {
		t.Fatal("the cache is kept after the last trace stopped")
	}
	if c := k.acquire(); c == nil || c == a {
		t.Fatalf("a trace after all stopped got %p, want a fresh cache", c)
	}
}
