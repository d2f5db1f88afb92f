package dns

import (
	"net/netip"
	"time"

	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

// packet is one captured DNS packet, decoded from the kernel's record.
type packet struct {
	tag     uint32 // the watched namespace's tag
	mono    int64  // CLOCK_MONOTONIC ns
	tcp     bool
	out     bool // sent by the watched namespace (else received)
	src     netip.AddrPort
	dst     netip.AddrPort
	payload []byte
	cut     bool // the payload was longer than captured
}

// txKey identifies one transaction in one watched namespace.
type txKey struct {
	tag    uint32
	tcp    bool
	client netip.AddrPort
	server netip.AddrPort
	id     uint16
}

type pendingQuery struct {
	mono int64
	out  bool // the watched namespace sent the query: it is the client
	msg  message
}

// tagged is an event of the watched namespace tag, not labelled yet.
type tagged struct {
	tag uint32
	ev  types.Event
}

// trackerStats are the counters of what the tracker could not use.
type trackerStats struct {
	malformed    uint64 // packets that are not DNS messages the gadget can read
	pendingFull  uint64 // queries not tracked: maxPending queries were waiting
	ringRecords  uint64 // records read from the ring buffer
	shortRecords uint64 // ring buffer records too short to decode
}

// tracker matches queries with their responses: by namespace, protocol,
// client and server address and port, and message ID. It is not safe for
// concurrent use. Its memory is bounded by maxPending queries waiting and
// as many recently completed keys (to ignore the second copy of a packet,
// e.g. one seen at both ends of loopback).
type tracker struct {
	timeout    time.Duration
	maxPending int
	wall       func(mono int64) time.Time

	pending map[txKey]pendingQuery
	done    map[txKey]int64 // completed or expired: when
	out     []tagged
	stats   trackerStats
	// onAnswer, when set, is called for every query answered that the
	// watched namespace itself sent, with the event about to be reported
	// and the response's time.
	onAnswer func(tag uint32, ev *types.Event, mono int64)
}

func newTracker(timeout time.Duration, maxPending int, wall func(int64) time.Time) *tracker {
	return &tracker{
		timeout:    timeout,
		maxPending: maxPending,
		wall:       wall,
		pending:    map[txKey]pendingQuery{},
		done:       map[txKey]int64{},
	}
}

// handle takes one packet.
func (t *tracker) handle(p packet) {
	m, err := parsePayload(p.payload, p.tcp, p.cut)
	if err != nil {
		t.stats.malformed++
		if !m.damaged {
			return
		}
		// A response whose header and question were read: reported
		// with what could be read, as truncated.
		m.truncated = true
	}
	if !m.response {
		k := txKey{tag: p.tag, tcp: p.tcp, client: p.src, server: p.dst, id: m.id}
		if _, dup := t.pending[k]; dup {
			return
		}
		if _, dup := t.done[k]; dup {
			return
		}
		if len(t.pending) >= t.maxPending {
			t.stats.pendingFull++
			return
		}
		t.pending[k] = pendingQuery{mono: p.mono, out: p.out, msg: m}
		return
	}
	k := txKey{tag: p.tag, tcp: p.tcp, client: p.dst, server: p.src, id: m.id}
	q, ok := t.pending[k]
	if ok {
		delete(t.pending, k)
		t.remember(k, p.mono)
		ev := t.event(k, q.mono, q.msg, types.StatusAnswered)
		fillResponse(&ev, m)
		ev.LatencyNs = max(p.mono-q.mono, 0)
		if q.out && t.onAnswer != nil {
			t.onAnswer(k.tag, &ev, p.mono)
		}
		t.out = append(t.out, tagged{k.tag, ev})
		return
	}
	if _, dup := t.done[k]; dup {
		return
	}
	t.remember(k, p.mono)
	ev := t.event(k, p.mono, m, types.StatusUnmatched)
	fillResponse(&ev, m)
	t.out = append(t.out, tagged{k.tag, ev})
}

// remember records k as completed, within the bound of maxPending keys.
func (t *tracker) remember(k txKey, mono int64) {
	if len(t.done) >= t.maxPending {
		return // forgetting duplicates is harmless: they are rare
	}
	t.done[k] = mono
}

// expire reports the queries older than the timeout as unanswered and
// forgets completed keys older than twice the timeout.
func (t *tracker) expire(now int64) {
	limit := now - int64(t.timeout)
	for k, q := range t.pending {
		if q.mono <= limit {
			delete(t.pending, k)
			t.remember(k, q.mono)
			t.out = append(t.out, tagged{k.tag, t.event(k, q.mono, q.msg, types.StatusUnanswered)})
		}
	}
	for k, at := range t.done {
		if at <= limit-int64(t.timeout) {
			delete(t.done, k)
		}
	}
}

// expireTag reports every waiting query of namespace tag as unanswered
// (all namespaces for tag 0) and forgets the tag's keys.
func (t *tracker) expireTag(tag uint32) {
	for k, q := range t.pending {
		if tag == 0 || k.tag == tag {
			delete(t.pending, k)
			t.out = append(t.out, tagged{k.tag, t.event(k, q.mono, q.msg, types.StatusUnanswered)})
		}
	}
	for k := range t.done {
		if tag == 0 || k.tag == tag {
			delete(t.done, k)
		}
	}
}

// take returns the events produced since the last call.
func (t *tracker) take() []tagged {
	out := t.out
	t.out = nil
	return out
}

func (t *tracker) event(k txKey, mono int64, m message, status string) types.Event {
	proto := "udp"
	if k.tcp {
		proto = "tcp"
	}
	ev := types.Event{
		Time:       t.wall(mono),
		Status:     status,
		Proto:      proto,
		Client:     k.client.Addr().Unmap().String(),
		ClientPort: int(k.client.Port()),
		Server:     k.server.Addr().Unmap().String(),
		ServerPort: int(k.server.Port()),
		ID:         k.id,
	}
	if m.hasQuestion {
		ev.Name = m.name
		ev.QType = typeString(m.qtype)
	}
	return ev
}

// fillResponse copies what a response says into ev.
func fillResponse(ev *types.Event, m message) {
	if ev.Name == "" && m.hasQuestion {
		ev.Name, ev.QType = m.name, typeString(m.qtype)
	}
	ev.RCode = rcodeString(m.rcode)
	ev.Answers = m.answers
	ev.OtherAnswers = m.other
	ev.Truncated = m.truncated
}
