package dns

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

func TestTracker(t *testing.T) {
	client := netip.MustParseAddrPort("10.0.0.1:40000")
	server := netip.MustParseAddrPort("10.0.0.53:53")
	q := buildMessage(t, 9, false, 0, "web.example.org.", dnsmessage.TypeA)
	r := buildMessage(t, 9, true, 0, "web.example.org.", dnsmessage.TypeA,
		rr("web.example.org.", 2, &dnsmessage.AResource{A: [4]byte{10, 0, 0, 2}}))
	lost := buildMessage(t, 10, false, 0, "lost.example.org.", dnsmessage.TypeAAAA)
	orphan := buildMessage(t, 11, true, dnsmessage.RCodeServerFailure, "late.example.org.", dnsmessage.TypeA)
	ms := int64(time.Millisecond)

	tr := newTracker(time.Second, 2, func(m int64) time.Time { return time.Unix(0, m) })
	tr.handle(packet{tag: 1, mono: 100 * ms, src: client, dst: server, payload: q})
	tr.handle(packet{tag: 1, mono: 101 * ms, src: client, dst: server, payload: q}) // the second copy
	tr.handle(packet{tag: 1, mono: 103 * ms, src: server, dst: client, payload: r})
	tr.handle(packet{tag: 1, mono: 104 * ms, src: server, dst: client, payload: r}) // the second copy
	tr.handle(packet{tag: 2, mono: 105 * ms, tcp: true, src: client, dst: server, payload: tcpForm(lost)})
	tr.handle(packet{tag: 1, mono: 106 * ms, src: server, dst: client, payload: orphan})
	tr.handle(packet{tag: 1, mono: 107 * ms, src: client, dst: server, payload: []byte("not dns")})

	got := tr.take()
	if len(got) != 2 {
		t.Fatalf("got %d events before the timeout, want 2 (answered, unmatched): %+v", len(got), got)
	}
	want := types.Event{Time: time.Unix(0, 100*ms), Status: types.StatusAnswered, Proto: "udp",
		Client: "10.0.0.1", ClientPort: 40000, Server: "10.0.0.53", ServerPort: 53, ID: 9, Name: "web.example.org", QType: "A",
		RCode: "NOERROR", Answers: []types.Answer{{Name: "web.example.org", Type: "A", TTL: 2, Data: "10.0.0.2"}}, LatencyNs: 3 * ms}
	if got[0].tag != 1 || !equalEvent(got[0].ev, want) {
		t.Errorf("answered:\n got  %+v\n want %+v", got[0].ev, want)
	}
	if e := got[1].ev; e.Status != types.StatusUnmatched || e.RCode != "SERVFAIL" || e.Name != "late.example.org" || e.LatencyNs != 0 {
		t.Errorf("unmatched: got %+v", e)
	}
	if tr.stats.malformed != 1 {
		t.Errorf("malformed = %d, want 1", tr.stats.malformed)
	}

	tr.expire(105*ms + int64(time.Second) - 1)
	if got := tr.take(); len(got) != 0 {
		t.Fatalf("expired before the timeout: %+v", got)
	}
	tr.expire(105*ms + int64(time.Second))
	got = tr.take()
	if len(got) != 1 || got[0].tag != 2 || got[0].ev.Status != types.StatusUnanswered || got[0].ev.Proto != "tcp" ||
		got[0].ev.Name != "lost.example.org" || got[0].ev.QType != "AAAA" || got[0].ev.RCode != "" {
		t.Fatalf("after the timeout: got %+v, want lost.example.org unanswered", got)
	}

	// max-pending bounds the queries waiting.
	for i := range 3 {
		p := buildMessage(t, uint16(100+i), false, 0, "x.example.org.", dnsmessage.TypeA)
		tr.handle(packet{tag: 1, mono: 2000 * ms, src: client, dst: server, payload: p})
	}
	if len(tr.pending) != 2 || tr.stats.pendingFull != 1 {
		t.Errorf("pending = %d, pendingFull = %d; want 2 and 1", len(tr.pending), tr.stats.pendingFull)
	}
	tr.expireTag(0)
	if got := tr.take(); len(got) != 2 || len(tr.pending) != 0 || len(tr.done) != 0 {
		t.Errorf("expireTag(0): %d events, %d pending, %d done; want 2, 0, 0", len(got), len(tr.pending), len(tr.done))
	}
}

func equalEvent(a, b types.Event) bool {
	return a.Time.Equal(b.Time) && reflect.DeepEqual(withoutTime(a), withoutTime(b))
}

func withoutTime(e types.Event) types.Event {
	e.Time = time.Time{}
	return e
}
