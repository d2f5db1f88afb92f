package networkgraph

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// recorder collects the batches an instance emits.
type recorder struct {
	mu      sync.Mutex
	batches [][]types.Event
}

func (r *recorder) emit(batch any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, batch.([]types.Event))
}

func (r *recorder) all() []types.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []types.Event
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

// waitFor polls until cond holds on the events emitted so far.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]types.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(r.all()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %s", what, types.EventsString(r.all()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func target(t *testing.T, ns *testenv.Netns) gadget.Target {
	t.Helper()
	ino, err := containers.NetnsInode(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	return gadget.Target{ID: fmt.Sprintf("netns:%d", ino), Node: "testnode", Pod: ns.Name(), NetnsPath: ns.Path(), NetnsInode: ino}
}

func startInstance(t *testing.T, params map[string]string) (*instance, *recorder) {
	t.Helper()
	rec := &recorder{}
	mode, tailCalls := strings.CutSuffix(params[ParamAttach], tailCallsSuffix)
	if tailCalls {
		params = maps.Clone(params)
		params[ParamAttach] = mode
	}
	in, err := newInstance(gadget.Config{Node: "testnode", Parameters: params, Emit: rec.emit})
	if err != nil {
		t.Fatal(err)
	}
	in.tailCalls = tailCalls
	return in, rec
}

// tailCallsSuffix on an attach mode of attachModes has startInstance load
// the tail-call variant (per-namespace tag programs) instead of the
// tag-free programs.
const tailCallsSuffix = "+tail-calls"

func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

type edgeWant struct {
	pod, pktType, proto, ip string
	port                    int
	minPackets, minBytes    uint64
	remotePod               string
}

func (w edgeWant) key() string {
	return fmt.Sprintf("/%s/%s/%s/%s/%d", w.pod, w.pktType, w.proto, w.ip, w.port)
}

// attachModes are the ways the program can see the packets; the tests of
// the edges run for each.
var attachModes = []string{AttachSocket, AttachTCX, AttachPacket, AttachTCX + tailCallsSuffix, AttachPacket + tailCallsSuffix}

func TestNetworkGraphEdges(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, mode := range attachModes {
		t.Run(mode, func(t *testing.T) { testEdges(t, mode) })
	}
}

func testEdges(t *testing.T, mode string) {
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	a4, a6, b4, b6 := l.A4, l.A6, l.B4, l.B6

	in, rec := startInstance(t, map[string]string{ParamInterval: "100ms", ParamAttach: mode})
	ctx := context.Background()
	// One target before Start, one while running.
	if err := in.AddTarget(ctx, target(t, a)); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(ctx) })
	if err := in.AddTarget(ctx, target(t, b)); err != nil {
		t.Fatal(err)
	}

	b.TCPEchoServer(t, hostPort(b4, 8080))
	b.TCPEchoServer(t, hostPort(b6, 8080))
	a.TCPEchoServer(t, hostPort(a4, 9000))
	a.TCPEchoServer(t, "127.0.0.1:7000")
	b.UDPEchoServer(t, hostPort(b4, 5353))
	b.UDPEchoServer(t, hostPort(b6, 53))
	a.UDPEchoServer(t, hostPort(a4, 8125))

	for i := 0; i < 3; i++ { // several connections to one port
		a.TCPExchange(t, hostPort(b4, 8080), 1000)
	}
	// The drain loop delivers while running, not only at Stop.
	rec.waitFor(t, "the first TCP edge in an interval batch", func(es []types.Event) bool {
		return slices.ContainsFunc(es, func(e types.Event) bool { return e.Pod == a.Name() && e.Port == 8080 })
	})
	a.TCPExchange(t, hostPort(b6, 8080), 2000)
	b.TCPExchange(t, hostPort(a4, 9000), 500)
	a.TCPExchange(t, "127.0.0.1:7000", 100)
	a.UDPExchange(t, hostPort(b4, 5353), 5, 100)
	a.UDPExchange(t, hostPort(b6, 53), 4, 60)
	b.UDPExchange(t, hostPort(a4, 8125), 3, 40) // statsd-like, incoming to a

	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	got := types.Unique(rec.all())

	A, B := a.Name(), b.Name()
	want := []edgeWant{
		{A, "OUTGOING", "tcp", b4.String(), 8080, 3 * 4, 3 * 2 * 1000, B},
		{B, "HOST", "tcp", a4.String(), 8080, 3 * 4, 3 * 2 * 1000, A},
		{A, "OUTGOING", "tcp", b6.String(), 8080, 4, 2 * 2000, B},
		{B, "HOST", "tcp", a6.String(), 8080, 4, 2 * 2000, A},
		{B, "OUTGOING", "tcp", a4.String(), 9000, 4, 2 * 500, A},
		{A, "HOST", "tcp", b4.String(), 9000, 4, 2 * 500, B},
		{A, "OUTGOING", "tcp", "127.0.0.1", 7000, 4, 2 * 100, ""},
		{A, "HOST", "tcp", "127.0.0.1", 7000, 4, 2 * 100, ""},
		{A, "OUTGOING", "udp", b4.String(), 5353, 10, 10 * 100, B},
		{B, "HOST", "udp", a4.String(), 5353, 10, 10 * 100, A},
		{A, "OUTGOING", "udp", b6.String(), 53, 8, 8 * 60, B},
		{B, "HOST", "udp", a6.String(), 53, 8, 8 * 60, A},
		{B, "OUTGOING", "udp", a4.String(), 8125, 6, 6 * 40, A},
		{A, "HOST", "udp", b4.String(), 8125, 6, 6 * 40, B},
	}
	byKey := map[string]types.Event{}
	var gotKeys []string
	for _, e := range got {
		if !e.IsEdge() {
			t.Errorf("unexpected %s event: %s", e.Type, e.Message)
			continue
		}
		byKey[e.Key()] = e
		gotKeys = append(gotKeys, e.Key())
	}
	var wantKeys []string
	for _, w := range want {
		wantKeys = append(wantKeys, w.key())
	}
	sort.Strings(gotKeys)
	sort.Strings(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Fatalf("edge set mismatch\n got: %q\nwant: %q\nevents: %s", gotKeys, wantKeys, types.EventsString(got))
	}
	for _, w := range want {
		e := byKey[w.key()]
		if e.Packets < w.minPackets || e.Bytes < w.minBytes {
			t.Errorf("%s: packets=%d bytes=%d, want at least %d and %d", w.key(), e.Packets, e.Bytes, w.minPackets, w.minBytes)
		}
		if e.Node != "testnode" {
			t.Errorf("%s: node = %q", w.key(), e.Node)
		}
		if e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) || time.Since(e.FirstSeen) > time.Minute {
			t.Errorf("%s: firstSeen=%v lastSeen=%v", w.key(), e.FirstSeen, e.LastSeen)
		}
		switch {
		case w.remotePod != "" && (e.RemoteKind != types.RemoteKindPod || e.RemotePodName != w.remotePod):
			t.Errorf("%s: remote = %s/%s, want pod %s", w.key(), e.RemoteKind, e.RemotePodName, w.remotePod)
		case w.remotePod == "" && (e.RemoteKind != types.RemoteKindOther || e.RemoteOther != w.ip):
			t.Errorf("%s: remote = %s/%s, want other %s", w.key(), e.RemoteKind, e.RemoteOther, w.ip)
		}
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestNetworkGraphDetachAndCleanup(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, mode := range attachModes {
		t.Run(mode, func(t *testing.T) { testDetachAndCleanup(t, mode) })
	}
}

func testDetachAndCleanup(t *testing.T, mode string) {
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	b.UDPEchoServer(t, hostPort(l.B4, 5000))
	ctx := context.Background()

	before := openFDs(t)
	in, rec := startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: mode})
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ta, tb := target(t, a), target(t, b)
	for _, tg := range []gadget.Target{ta, tb, ta} { // adding twice is a no-op
		if err := in.AddTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	a.UDPExchange(t, hostPort(l.B4, 5000), 2, 10)
	// Removing b delivers b's edge at once, without waiting for the interval.
	if err := in.RemoveTarget(ctx, tb.ID); err != nil {
		t.Fatal(err)
	}
	gotB := slices.ContainsFunc(rec.all(), func(e types.Event) bool { return e.Pod == b.Name() && e.PktType == "HOST" })
	if !gotB {
		t.Fatalf("removing %s did not deliver its edges: %s", b.Name(), types.EventsString(rec.all()))
	}
	// Once its hooks are closed, its edges are gone from the kernel map
	// (their ids free for new edges).
	in.mu.Lock()
	left, closing := 0, len(in.closing)
	err := in.objs.Edges(func(k ngbpf.EdgeKey, _ ngbpf.EdgeValue) {
		if in.byTag[k.Netns] == nil {
			left++
		}
	})
	in.mu.Unlock()
	if err != nil || left != 0 || closing != 0 {
		t.Errorf("after RemoveTarget: %d edges of detached namespaces in the kernel map, %d namespaces closing, error %v; want 0, 0, nil", left, closing, err)
	}
	a.UDPExchange(t, hostPort(l.B4, 5000), 2, 10)
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var bPackets uint64
	for _, e := range types.Unique(rec.all()) {
		if e.Pod == b.Name() {
			bPackets += e.Packets
		}
	}
	if bPackets != 4 {
		t.Errorf("%s after removal: %d packets, want the 4 seen before it", b.Name(), bPackets)
	}
	if after := openFDs(t); after > before {
		t.Errorf("open fds: %d before start, %d after stop", before, after)
	}
	if err := in.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestNetworkGraphFullMapIsReported(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	ctx := context.Background()
	in, rec := startInstance(t, map[string]string{ParamInterval: "1h", ParamMaxEdges: "2"})
	m := &recordedMetrics{values: map[string]float64{}}
	in.cfg.Metrics = m
	if err := in.AddTarget(ctx, target(t, a)); err != nil {
		t.Fatal(err)
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for port := 6000; port < 6005; port++ {
		b.UDPEchoServer(t, hostPort(l.B4, port))
		a.UDPExchange(t, hostPort(l.B4, port), 1, 10)
	}
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var edges, warns int
	for _, e := range rec.all() {
		if e.IsEdge() {
			edges++
		} else if strings.Contains(e.Message, "edge map is full") {
			warns++
		}
	}
	if edges != 2 || warns != 1 {
		t.Fatalf("edges=%d warnings=%d, want 2 edges and 1 warning: %s", edges, warns, types.EventsString(rec.all()))
	}
	// The metrics say the same: a full map of 2, and the packets of the
	// 3 other ports (each datagram and its answer) not recorded.
	for name, want := range map[string]float64{metricMapCapacity: 2, metricMapEdges: 2, metricPacketsNotRecorded: 6} {
		if got := m.get(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// recordedMetrics is a gadget.Metrics keeping the last value of each
// gauge and the sum of each counter, labels aside.
type recordedMetrics struct {
	mu     sync.Mutex
	values map[string]float64
}

func (r *recordedMetrics) Set(name string, v float64, _ ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[name] = v
}

func (r *recordedMetrics) Add(name string, v float64, _ ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[name] += v
}

func (r *recordedMetrics) Traffic() bool { return false }

func (r *recordedMetrics) get(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.values[name]
}

// TestDefaultMaxEdges checks that the declared default of max-edges is
// the size of the kernel map when none is given.
func TestDefaultMaxEdges(t *testing.T) {
	if spec.DefaultMaxEdges != ngbpf.DefaultMaxEdges {
		t.Fatalf("spec.DefaultMaxEdges = %d, bpf/networkgraph.DefaultMaxEdges = %d: keep them equal", spec.DefaultMaxEdges, ngbpf.DefaultMaxEdges)
	}
}

// TestNetworkGraphConnectionsOpenedBeforeAttach: at TCX, the packets of
// a connection opened before the attach cannot be given a direction, so
// they are not recorded, and the user is told; at the socket, the
// connection is found at the attach, its direction from the listeners of
// the namespace, and what it does from then on is counted, up to its
// close.
func TestNetworkGraphConnectionsOpenedBeforeAttach(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, mode := range []string{AttachSocket, AttachTCX} {
		t.Run(mode, func(t *testing.T) { testConnectionsOpenedBeforeAttach(t, mode) })
	}
}

func testConnectionsOpenedBeforeAttach(t *testing.T, mode string) {
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	b.TCPEchoServer(t, hostPort(l.B4, 7100))
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", hostPort(l.B4, 7100), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	ping := func() {
		t.Helper()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
	}
	ping() // before the trace: not counted

	ctx := context.Background()
	in, rec := startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: mode})
	for _, ns := range []*testenv.Netns{a, b} {
		if err := in.AddTarget(ctx, target(t, ns)); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ping()
	if mode == AttachSocket {
		// Read while open, then pinged again and closed: its close is
		// seen as any other's, counting the second ping, and forgets it.
		in.mu.Lock()
		err := in.collectLocked(nil)
		in.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		ping()
		c.Close()
		testenv.WaitTCPClosed(t, 10*time.Second, a, b)
	}
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var warns int
	edges := map[string]types.Event{}
	for _, e := range types.Unique(rec.all()) {
		if e.IsEdge() {
			edges[e.Key()] = e
		} else if strings.Contains(e.Message, "opened before the trace attached") {
			warns++
		}
	}
	if mode == AttachTCX {
		if len(edges) != 0 || warns != 1 {
			t.Fatalf("edges=%d warnings=%d, want 0 and 1: %s", len(edges), warns, types.EventsString(rec.all()))
		}
		return
	}
	// The two pings after the attach and their answers, at least: 4
	// segments of 4 bytes, with their headers; and no more than their
	// ACKs and the closing FINs and ACKs beside (14 segments).
	const most = 14
	want := []edgeWant{
		{a.Name(), "OUTGOING", "tcp", l.B4.String(), 7100, 4, 4 * (4 + 52), ""},
		{b.Name(), "HOST", "tcp", l.A4.String(), 7100, 4, 4 * (4 + 52), ""},
	}
	if len(edges) != len(want) || warns != 0 {
		t.Fatalf("edges=%d warnings=%d, want %d and 0: %s", len(edges), warns, len(want), types.EventsString(rec.all()))
	}
	for _, w := range want {
		e, ok := edges[w.key()]
		if !ok || e.Packets < w.minPackets || e.Packets > most || e.Bytes < w.minBytes || e.Bytes > most*(52+4) {
			t.Errorf("%s: %+v; want %d to %d segments, %d to %d bytes (the pings after the attach and the close, not before)", w.key(), e, w.minPackets, most, w.minBytes, most*(52+4))
		}
	}
}

// TestNetworkGraphTCXFollowsNewInterfaces checks that an interface created
// in a watched namespace after it was attached is hooked too (attach=tcx;
// a packet socket sees every interface by itself).
func TestNetworkGraphTCXFollowsNewInterfaces(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	ctx := context.Background()
	in, rec := startInstance(t, map[string]string{ParamInterval: "100ms", ParamAttach: AttachTCX})
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(ctx) })
	if err := in.AddTarget(ctx, target(t, a)); err != nil {
		t.Fatal(err)
	}
	// a's veth to b is created after a was attached.
	l := testenv.Link(t, a, b)
	b.UDPEchoServer(t, hostPort(l.B4, 7777))
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.UDPExchange(t, hostPort(l.B4, 7777), 1, 10)
		if slices.ContainsFunc(rec.all(), func(e types.Event) bool {
			return e.Pod == a.Name() && e.PktType == "OUTGOING" && e.Port == 7777
		}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no edge over the interface created after attaching: %s", types.EventsString(rec.all()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNetworkGraphTCXFollowsAfterOverrun overruns the netlink socket that
// reports new interfaces (shrunk to the kernel's minimum) while its reader
// waits for the instance's lock, so that its next read fails with ENOBUFS:
// the follower must hook every interface and go on following.
func TestNetworkGraphTCXFollowsAfterOverrun(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "a")
	ctx := context.Background()
	in, _ := startInstance(t, map[string]string{ParamInterval: "1h", ParamAttach: AttachTCX})
	in.linkRcvBuf = 1 // raised to the kernel's minimum: a few messages
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(ctx) })
	tg := target(t, a)
	if err := in.AddTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	hooked := func() int {
		in.mu.Lock()
		defer in.mu.Unlock()
		return len(in.byID[tg.ID].hooked)
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", a.Name()}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	waitHooked := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for hooked() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d interfaces hooked, want %d", hooked(), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	before := hooked() // loopback
	in.mu.Lock()
	for i := range 8 {
		ip("link", "add", fmt.Sprintf("ov%da", i), "type", "veth", "peer", "name", fmt.Sprintf("ov%db", i))
	}
	in.mu.Unlock()
	waitHooked(before + 16)
	// Still following: an interface created afterwards is hooked too.
	ip("link", "add", "late-a", "type", "veth", "peer", "name", "late-b")
	waitHooked(before + 18)
}

// TestNetworkGraphRelabel gives a watched namespace a new name while it is
// attached: its hooks stay, and its edges carry the new name.
func TestNetworkGraphRelabel(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	b.UDPEchoServer(t, hostPort(l.B4, 5000))
	ctx := context.Background()
	in, rec := startInstance(t, map[string]string{ParamInterval: "1h"})
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ta := target(t, a)
	first := ta
	first.Pod = "ip-4242" // as first seen through the process creating it
	if err := in.AddTarget(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := in.RelabelTarget(ctx, ta); err != nil {
		t.Fatal(err)
	}
	a.UDPExchange(t, hostPort(l.B4, 5000), 3, 10)
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var named, old uint64
	for _, e := range types.Unique(rec.all()) {
		switch e.Pod {
		case a.Name():
			named += e.Packets
		case first.Pod:
			old += e.Packets
		}
	}
	if named == 0 || old != 0 {
		t.Errorf("edges: %d packets under %s, %d under %s; want all under the new name: %s",
			named, a.Name(), old, first.Pod, types.EventsString(rec.all()))
	}
}

// TestNetworkGraphOneAttachmentPerNetns checks that a trace watches a
// namespace once: a second target in a namespace already watched is
// refused by name, and one added while the first is being removed waits
// for its hooks to close, then counts under its own labels (the removed
// one's edges are deleted when its hooks are closed, not the new one's).
func TestNetworkGraphOneAttachmentPerNetns(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, mode := range []string{AttachSocket, AttachTCX, AttachPacket} {
		t.Run(mode, func(t *testing.T) {
			a := testenv.NewNetns(t, "a")
			b := testenv.NewNetns(t, "b")
			l := testenv.Link(t, a, b)
			in, rec := startInstance(t, map[string]string{ParamInterval: "100ms", ParamAttach: mode})
			ctx := context.Background()
			if err := in.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Stop(ctx) })
			first := target(t, a)
			if err := in.AddTarget(ctx, first); err != nil {
				t.Fatal(err)
			}
			again := first
			again.ID, again.Pod = first.ID+"-again", "again"
			if err := in.AddTarget(ctx, again); err == nil || !strings.Contains(err.Error(), "already watched") {
				t.Fatalf("second target in the same namespace: %v, want an error saying it is already watched", err)
			}
			removed := make(chan error, 1)
			go func() { removed <- in.RemoveTarget(ctx, first.ID) }()
			for {
				in.mu.Lock()
				closing := len(in.closing) > 0 || in.byID[first.ID] == nil
				in.mu.Unlock()
				if closing {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err := in.AddTarget(ctx, again); err != nil {
				t.Fatal(err)
			}
			in.mu.Lock()
			closing := len(in.closing)
			in.mu.Unlock()
			if closing > 0 {
				t.Error("the namespace was attached again while its previous hooks were closing: forgetting them deletes the new edges")
			}
			if err := <-removed; err != nil {
				t.Fatal(err)
			}
			b.UDPEchoServer(t, hostPort(l.B4, 5353))
			a.UDPExchange(t, hostPort(l.B4, 5353), 3, 100)
			rec.waitFor(t, "the edge of the namespace under its new labels", func(es []types.Event) bool {
				return slices.ContainsFunc(es, func(e types.Event) bool { return e.Pod == "again" && e.Port == 5353 })
			})
		})
	}
}

// TestNetworkGraphReattachKeepsCounting detaches a namespace and attaches
// it again while one UDP flow (the same socket, the same 4-tuple) goes on:
// its packets after the new attach are counted too. The namespace has the
// same tag both times, and the flow was in the kernel's flow cache with
// the id of an edge deleted at the detach.
func TestNetworkGraphReattachKeepsCounting(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	l := testenv.Link(t, a, b)
	b.UDPEchoServer(t, hostPort(l.B4, 5000))
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.Dial("udp", hostPort(l.B4, 5000))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(n int) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for range n {
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	in, rec := startInstance(t, map[string]string{ParamInterval: "1h"})
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(ctx) })
	ta := target(t, a)
	for round := range 3 {
		if err := in.AddTarget(ctx, ta); err != nil {
			t.Fatal(err)
		}
		exchange(5)
		if err := in.RemoveTarget(ctx, ta.ID); err != nil {
			t.Fatal(err)
		}
		var packets uint64
		for _, e := range types.Unique(rec.all()) {
			if e.Pod == a.Name() && e.Proto == "udp" {
				packets += e.Packets
			}
		}
		if want := uint64(10 * (round + 1)); packets != want {
			t.Fatalf("after %d attaches: %d packets counted, want %d", round+1, packets, want)
		}
	}
}
