package networkgraph

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// bothModes is a trace in attach=socket and one in attach=tcx watching
// the same two linked netns "pods", a and b.
type bothModes struct {
	a, b            *testenv.Netns
	l               testenv.Pair
	sock, tcx       *instance
	sockRec, tcxRec *recorder
}

// socketAndTCX links a and b and starts both traces on them, with an
// interval that never ticks.
func socketAndTCX(t *testing.T) bothModes {
	t.Helper()
	var m bothModes
	m.a = testenv.NewNetns(t, "a")
	m.b = testenv.NewNetns(t, "b")
	m.l = testenv.Link(t, m.a, m.b)
	ctx := context.Background()
	m.sock, m.sockRec = startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: AttachSocket})
	m.tcx, m.tcxRec = startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: AttachTCX})
	for _, in := range []*instance{m.sock, m.tcx} {
		if err := in.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Stop(ctx) })
		for _, ns := range []*testenv.Netns{m.a, m.b} {
			if err := in.AddTarget(ctx, target(t, ns)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

// stop waits until every connection of a and b is closed (and counted at
// its close by the socket trace), then stops both traces, which report
// their edges to the recorders.
func (m bothModes) stop(t *testing.T) {
	t.Helper()
	testenv.WaitTCPClosed(t, 10*time.Second, m.a, m.b)
	for _, in := range []*instance{m.sock, m.tcx} {
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSocketAndTCXAgree runs attach=socket and attach=tcx side by side
// over the same traffic: the same edges, the same UDP counters, the same
// TCP segments, and TCP bytes within 1 %.
func TestSocketAndTCXAgree(t *testing.T) {
	testenv.RequirePrivileged(t)
	m := socketAndTCX(t)
	a, b, l, sock, sockRec, tcxRec := m.a, m.b, m.l, m.sock, m.sockRec, m.tcxRec
	if sock.mode != AttachSocket {
		t.Fatalf("attach=socket runs as %s: %s", sock.mode, sock.modeWarning)
	}
	b.TCPEchoServer(t, hostPort(l.B4, 8080))
	b.TCPEchoServer(t, hostPort(l.B6, 8080))
	a.TCPEchoServer(t, "127.0.0.1:7000")
	b.UDPEchoServer(t, hostPort(l.B4, 5353))
	for _, size := range []int{1, 100, 1000, 20000, 200000} {
		a.TCPExchangeClosed(t, hostPort(l.B4, 8080), size)
		a.TCPExchangeClosed(t, hostPort(l.B6, 8080), size)
		a.TCPExchangeClosed(t, "127.0.0.1:7000", size)
	}
	a.UDPExchange(t, hostPort(l.B4, 5353), 5, 100)
	m.stop(t)
	got := map[string]types.Event{}
	for _, e := range types.Unique(sockRec.all()) {
		got[e.Key()] = e
	}
	want := types.Unique(tcxRec.all())
	if len(got) != len(want) {
		t.Errorf("socket: %d edges, tcx: %d\nsocket: %s\ntcx: %s", len(got), len(want), types.EventsString(types.Unique(sockRec.all())), types.EventsString(want))
	}
	for _, w := range want {
		g, ok := got[w.Key()]
		if !ok {
			t.Errorf("%s: seen by tcx, not by socket", w.Key())
			continue
		}
		t.Logf("%s: packets socket %d tcx %d, bytes socket %d tcx %d (%+.2f %%)", w.Key(), g.Packets, w.Packets, g.Bytes, w.Bytes,
			100*(float64(g.Bytes)-float64(w.Bytes))/float64(w.Bytes))
		switch {
		case w.Proto == "udp" && (g.Packets != w.Packets || g.Bytes != w.Bytes):
			t.Errorf("%s: socket %d packets %d bytes, tcx %d and %d; want the same", w.Key(), g.Packets, g.Bytes, w.Packets, w.Bytes)
		case w.Proto == "tcp" && g.Packets != w.Packets:
			t.Errorf("%s: socket %d segments, tcx %d; want the same", w.Key(), g.Packets, w.Packets)
		case w.Proto == "tcp" && math.Abs(float64(g.Bytes)-float64(w.Bytes)) > bytesTolerance*float64(w.Bytes):
			t.Errorf("%s: socket %d bytes, tcx %d; want them within %.0f %%", w.Key(), g.Bytes, w.Bytes, 100*bytesTolerance)
		}
	}
}

// bytesTolerance is how far attach=socket's TCP bytes may be from
// attach=tcx's, relatively. The socket counts each segment's headers from
// the connection's header length, so SYNs' longer options (about 8 bytes
// each) and the odd segment with SACK blocks are missed: 0.02 % in
// TestSocketAndTCXAgree.
const bytesTolerance = 0.01

// TestSocketCountsShortConnections opens and closes many connections
// between two reads of the counters (none during the test): attach=socket
// counts each at its close, as many segments as attach=tcx counts per
// packet.
func TestSocketCountsShortConnections(t *testing.T) {
	testenv.RequirePrivileged(t)
	m := socketAndTCX(t)
	a, b, l, sockRec, tcxRec := m.a, m.b, m.l, m.sockRec, m.tcxRec
	b.TCPEchoServer(t, hostPort(l.B4, 8080))
	const conns = 300
	for range conns {
		a.TCPExchangeClosed(t, hostPort(l.B4, 8080), 10)
	}
	m.stop(t)
	packets := func(es []types.Event, pktType string) (n uint64) {
		for _, e := range types.Unique(es) {
			if e.Proto == "tcp" && e.PktType == pktType {
				n += e.Packets
			}
		}
		return n
	}
	for _, pt := range []string{"OUTGOING", "HOST"} {
		got, want := packets(sockRec.all(), pt), packets(tcxRec.all(), pt)
		// A connection's handshake, request, answer and two FINs: at
		// least 8 segments.
		if got != want || got < 8*conns {
			t.Errorf("%s: socket counted %d segments of %d short connections, tcx %d; want the same, at least %d", pt, got, conns, want, 8*conns)
		}
	}
}

// TestSocketFallsBackToTCX asks for attach=socket where it cannot run
// (the tail-call variant: its programs need the tag-free ones): the trace
// runs attach=tcx, counting TCP per packet, says so in a warning and in the
// attach mode metric.
func TestSocketFallsBackToTCX(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	ctx := context.Background()
	in, rec := startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: AttachSocket + tailCallsSuffix})
	m := &labelledMetrics{}
	in.cfg.Metrics = m
	if err := in.AddTarget(ctx, target(t, a)); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b.TCPEchoServer(t, hostPort(l.B4, 8080))
	a.TCPExchange(t, hostPort(l.B4, 8080), 100)
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var edges, warns int
	for _, e := range rec.all() {
		if e.IsEdge() && e.Proto == "tcp" {
			edges++
		} else if strings.Contains(e.Message, "attach=socket is not available") && strings.Contains(e.Message, "attach=tcx") {
			warns++
		}
	}
	if in.mode != AttachTCX || edges != 1 || warns != 1 {
		t.Errorf("mode %s, %d TCP edges, %d warnings; want tcx, 1 and 1: %s", in.mode, edges, warns, types.EventsString(rec.all()))
	}
	if got := m.get(metricAttachMode); got != "tcx=1" {
		t.Errorf("%s: %s, want tcx=1", metricAttachMode, got)
	}
}

// labelledMetrics is a gadget.Metrics keeping the gauges set, with their
// labels.
type labelledMetrics struct {
	mu     sync.Mutex
	gauges map[string]string
}

func (r *labelledMetrics) Set(name string, v float64, labels ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gauges == nil {
		r.gauges = map[string]string{}
	}
	r.gauges[name] = fmt.Sprintf("%s=%g", strings.Join(labels, ","), v)
}

func (r *labelledMetrics) Add(string, float64, ...string) {}

func (r *labelledMetrics) Traffic() bool { return false }

func (r *labelledMetrics) get(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gauges[name]
}

// socketTrace links two netns "pods", a and b, with a TCP echo server on
// port 8080 of b, and starts a trace in attach=socket with an interval
// that never ticks and no target yet.
func socketTrace(t *testing.T) (a, b *testenv.Netns, l testenv.Pair, in *instance, rec *recorder) {
	t.Helper()
	testenv.RequirePrivileged(t)
	a = testenv.NewNetns(t, "a")
	b = testenv.NewNetns(t, "b")
	l = testenv.Link(t, a, b)
	b.TCPEchoServer(t, hostPort(l.B4, 8080))
	ctx := context.Background()
	in, rec = startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: AttachSocket})
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(ctx) })
	return a, b, l, in, rec
}

// TestSocketStateProgramOnlyWhileWatching: the TCP state program, which
// runs at every TCP state change of the node, is attached only while the
// trace watches a namespace, and a namespace watched again is counted
// again.
func TestSocketStateProgramOnlyWhileWatching(t *testing.T) {
	a, b, l, in, rec := socketTrace(t)
	ctx := context.Background()
	attached := func() bool {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.tcpState != nil
	}
	if in.mode != AttachSocket || attached() {
		t.Fatalf("mode %s, TCP state program attached %v before any target; want socket, false", in.mode, attached())
	}
	outgoing := func() (n uint64) {
		for _, e := range rec.all() {
			if e.IsEdge() && e.Proto == "tcp" && e.PktType == "OUTGOING" {
				n += e.Packets
			}
		}
		return n
	}
	var counted []uint64
	for round := range 2 {
		if err := in.AddTarget(ctx, target(t, a)); err != nil {
			t.Fatal(err)
		}
		if !attached() {
			t.Fatalf("round %d: TCP state program not attached while a namespace is watched", round)
		}
		before := outgoing()
		a.TCPExchangeClosed(t, hostPort(l.B4, 8080), 10)
		testenv.WaitTCPClosed(t, 10*time.Second, a, b)
		if err := in.RemoveTarget(ctx, target(t, a).ID); err != nil {
			t.Fatal(err)
		}
		if attached() {
			t.Fatalf("round %d: TCP state program still attached with no namespace watched", round)
		}
		counted = append(counted, outgoing()-before)
	}
	// A handshake, a request, its answer and two FINs: at least 6
	// segments from the connecting end's view.
	for round, n := range counted {
		if n < 6 {
			t.Errorf("round %d: %d segments counted for the connection, want at least 6 (all: %v)", round, n, counted)
		}
	}
}

// TestSocketRewatchStartsAfresh: a connection open across an unwatch and
// a new watch of its namespace is counted in each watch from that
// watch's first walk on. What it did while not watched is not counted,
// and its record of the earlier watch, whose edge is gone (its id free
// for another edge), is never used again.
func TestSocketRewatchStartsAfresh(t *testing.T) {
	a, _, l, in, rec := socketTrace(t)
	ctx := context.Background()
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", hostPort(l.B4, 8080), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	ping := func(n int) {
		t.Helper()
		for range n {
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
		}
	}
	outgoing := func() (n uint64) {
		for _, e := range rec.all() {
			if e.IsEdge() && e.Proto == "tcp" && e.PktType == "OUTGOING" && e.Port == 8080 {
				n += e.Packets
			}
		}
		return n
	}
	const (
		watchedPings   = 3
		unwatchedPings = 50
	)
	var counted []uint64
	for range 3 {
		before := outgoing()
		// The first walk of this watch records the connection afresh,
		// what it did so far as its baseline.
		if err := in.AddTarget(ctx, target(t, a)); err != nil {
			t.Fatal(err)
		}
		ping(watchedPings)
		if err := in.RemoveTarget(ctx, target(t, a).ID); err != nil {
			t.Fatal(err)
		}
		counted = append(counted, outgoing()-before)
		// Not watched: not counted, in this watch nor the next.
		ping(unwatchedPings)
	}
	// Each watch: its pings, at least a request and an answer each, and
	// their ACKs at most; never the 2 x 50 segments of the pings between.
	for round, n := range counted {
		if n < 2*watchedPings || n > 4*watchedPings {
			t.Errorf("watch %d: %d segments counted for the connection, want %d to %d (all: %v)",
				round, n, 2*watchedPings, 4*watchedPings, counted)
		}
	}
}

// TestSocketDirectionFromTheSocket: a short connection's direction comes
// from its own socket, not from its port: a connection made from a port
// its namespace accepted a connection on a moment before (its listener
// closed meanwhile) is OUTGOING, as TCX, which sees its SYN, says.
func TestSocketDirectionFromTheSocket(t *testing.T) {
	testenv.RequirePrivileged(t)
	m := socketAndTCX(t)
	a, b, l := m.a, m.b, m.l
	b.TCPEchoServer(t, hostPort(l.B4, 8080))

	// a accepts one connection on 9090, from b, then stops listening.
	var ln net.Listener
	if err := a.Do(func() (err error) {
		ln, err = net.Listen("tcp", hostPort(l.A4, 9090))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		served <- err
	}()
	b.TCPExchangeClosed(t, hostPort(l.A4, 9090), 10)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	ln.Close()

	// Then a connects to b from that port.
	var c net.Conn
	if err := a.Do(func() (err error) {
		d := net.Dialer{
			LocalAddr: &net.TCPAddr{IP: l.A4.AsSlice(), Port: 9090},
			Timeout:   5 * time.Second,
			Control:   testenv.SockoptInt(syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1),
		}
		c, err = d.Dial("tcp", hostPort(l.B4, 8080))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	m.stop(t)

	edges := func(es []types.Event) map[string]uint64 {
		out := map[string]uint64{}
		for _, e := range types.Unique(es) {
			if e.IsEdge() && e.Proto == "tcp" && e.Pod == a.Name() {
				out[fmt.Sprintf("%s %s:%d", e.PktType, e.IP, e.Port)] += e.Packets
			}
		}
		return out
	}
	sock, tcx := edges(m.sockRec.all()), edges(m.tcxRec.all())
	out := fmt.Sprintf("OUTGOING %s:8080", l.B4)
	if sock[out] == 0 || fmt.Sprint(sock) != fmt.Sprint(tcx) {
		t.Errorf("edges of a, segments: socket %v, tcx %v; want the same, with %s", sock, tcx, out)
	}
}
