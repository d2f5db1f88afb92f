package networkgraph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestLoadAndTag(t *testing.T) {
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 128, MaxFlows: 256, TailCalls: true})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	p, err := objs.TagProgram(1)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := objs.TagProgram(1 << 31); err == nil {
		t.Error("TagProgram(1<<31) succeeded, want an out-of-range error")
	}
	stats, err := objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats != ([NumStats]uint64{}) {
		t.Fatalf("fresh stats = %v, want zeros", stats)
	}
	n := 0
	if err := objs.Edges(func(EdgeKey, EdgeValue) { n++ }); err != nil || n != 0 {
		t.Fatalf("fresh edges: %d, %v; want none", n, err)
	}
}

// BenchmarkLoad measures loading and verifying the shared program, paid
// once per trace.
func BenchmarkLoad(b *testing.B) {
	testenv.RequirePrivileged(b)
	for _, c := range []struct {
		name string
		opts func() Options
	}{
		{"fresh-btf", func() Options { return Options{} }},
		{"kept-btf", func() Options { return Options{KernelBTF: keptBTF} }},
		{"tail-calls", func() Options { return Options{TailCalls: true} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				objs, err := Load(c.opts())
				if err != nil {
					b.Fatal(err)
				}
				objs.Close()
			}
		})
	}
}

// keptBTF is the kernel BTF BenchmarkLoad/kept-btf keeps between loads.
var keptBTF = btf.NewCache()

// BenchmarkTagProgram measures the per-namespace program load of the
// tail-call variant, paid once per watched namespace.
func BenchmarkTagProgram(b *testing.B) {
	testenv.RequirePrivileged(b)
	objs, err := Load(Options{TailCalls: true})
	if err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	for b.Loop() {
		p, err := objs.TagProgram(1)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

// udpPacket is an Ethernet frame carrying a 64-byte UDP datagram from
// 10.99.0.1:40000 to 10.99.0.2:5201, as iperf3's flood sends it.
func udpPacket() []byte {
	return udp4([4]byte{10, 99, 0, 1}, 40000, [4]byte{10, 99, 0, 2}, 5201)
}

// ipv4 is an Ethernet frame carrying an IPv4 packet of protocol proto
// whose transport header and payload are l4 bytes; it returns the frame and
// its transport part, ports filled in.
func ipv4(proto byte, src [4]byte, sport uint16, dst [4]byte, dport uint16, l4 int) (pkt, transport []byte) {
	pkt = make([]byte, 14+20+l4)
	pkt[12], pkt[13] = 0x08, 0x00 // ETH_P_IP
	ip := pkt[14:]
	ip[0] = 0x45
	total := 20 + l4
	ip[2], ip[3] = byte(total>>8), byte(total)
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	transport = ip[20:]
	transport[0], transport[1] = byte(sport>>8), byte(sport)
	transport[2], transport[3] = byte(dport>>8), byte(dport)
	return pkt, transport
}

// udp4 is an Ethernet frame carrying a 64-byte UDP datagram.
func udp4(src [4]byte, sport uint16, dst [4]byte, dport uint16) []byte {
	const length = 8 + 64
	pkt, udp := ipv4(17, src, sport, dst, dport, length)
	udp[4], udp[5] = byte(length>>8), byte(length)
	return pkt
}

// tcp4 is an Ethernet frame carrying a TCP segment with flags and 10 bytes
// of payload.
func tcp4(src [4]byte, sport uint16, dst [4]byte, dport uint16, flags byte) []byte {
	pkt, tcp := ipv4(6, src, sport, dst, dport, 20+10)
	tcp[12] = 5 << 4 // data offset: 20 bytes
	tcp[13] = flags
	return pkt
}

// loadTagged loads the objects with opts and one tc tag program of
// namespace tag 1 for each hook; the test closes them all at its end.
func loadTagged(t *testing.T, opts Options, hooks ...Hook) (*Objects, []*ebpf.Program) {
	t.Helper()
	testenv.RequirePrivileged(t)
	opts.TailCalls = true
	objs, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	progs := make([]*ebpf.Program, len(hooks))
	for i, h := range hooks {
		if progs[i], err = objs.TCTagProgram(1, 14, h); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { progs[i].Close() })
	}
	return objs, progs
}

// TestLoopbackCountsBothEnds checks that the loopback hook, attached at
// egress only, records what an egress and an ingress hook did together:
// the same packets run through both programs of namespace 1 (each packet
// leaves and enters loopback) and through the loopback program of
// namespace 2, and both namespaces end with the same edges and counters.
func TestLoopbackCountsBothEnds(t *testing.T) {
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 64, MaxFlows: 64, TailCalls: true})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	progs := map[Hook]*ebpf.Program{}
	for _, h := range []Hook{HookIngress, HookEgress, HookLoopback} {
		tag := uint32(1)
		if h == HookLoopback {
			tag = 2
		}
		p, err := objs.TCTagProgram(tag, 14, h)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		progs[h] = p
	}
	if _, err := objs.TCTagProgram(1, 14, Hook(3)); err == nil {
		t.Error("TCTagProgram(hook 3) succeeded, want an error")
	}

	const syn, ack, synAck = 0x02, 0x10, 0x12
	lo := [4]byte{127, 0, 0, 1}
	packets := [][]byte{
		tcp4(lo, 40000, lo, 5000, syn),
		tcp4(lo, 5000, lo, 40000, synAck),
		tcp4(lo, 40000, lo, 5000, ack),
		tcp4(lo, 40000, lo, 5000, ack),
		tcp4(lo, 5000, lo, 40000, ack),
		udp4(lo, 41000, lo, 53),
		udp4(lo, 41000, lo, 53),
		udp4(lo, 53, lo, 41000),
	}
	for _, pkt := range packets {
		for _, h := range []Hook{HookEgress, HookIngress, HookLoopback} {
			if _, _, err := progs[h].Test(pkt); err != nil {
				t.Fatal(err)
			}
		}
	}

	type edge struct {
		pktType uint8
		proto   uint8
		port    uint16
	}
	got := map[uint32]map[edge]uint64{1: {}, 2: {}}
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) {
		got[k.Netns][edge{k.PktType, k.Proto, k.Port}] = v.Packets
	}); err != nil {
		t.Fatal(err)
	}
	want := map[edge]uint64{
		{PacketOutgoing, 6, 5000}: 5, // the client's end of the connection
		{PacketHost, 6, 5000}:     5, // the server's end
		{PacketOutgoing, 17, 53}:  3,
		{PacketHost, 17, 53}:      3,
	}
	if !maps.Equal(got[1], want) {
		t.Errorf("egress and ingress hooks recorded %v, want %v", got[1], want)
	}
	if !maps.Equal(got[2], want) {
		t.Errorf("loopback hook recorded %v, want %v (as egress and ingress hooks do)", got[2], want)
	}
}

// TestEdgeIDsReused fills a small edge map, checks that what did not fit
// is counted as dropped, deletes some edges and checks that new edges take
// their ids with fresh counters, while a flow cached on a kept edge still
// counts there.
func TestEdgeIDsReused(t *testing.T) {
	const maxEdges = 4
	objs, progs := loadTagged(t, Options{MaxEdges: maxEdges, MaxFlows: 64}, HookEgress)
	egress := progs[0]
	local, remote := [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 2}
	send := func(port uint16, n int) {
		t.Helper()
		for range n {
			if _, _, err := egress.Test(udp4(local, 40000, remote, port)); err != nil {
				t.Fatal(err)
			}
		}
	}
	edges := func() map[uint16]uint64 {
		t.Helper()
		out := map[uint16]uint64{}
		if err := objs.Edges(func(k EdgeKey, v EdgeValue) { out[k.Port] = v.Packets }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	dropped := func() uint64 {
		t.Helper()
		st, err := objs.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st[StatEdgesDropped]
	}

	for port := uint16(1); port <= maxEdges+2; port++ {
		send(port, int(port)) // port p: p packets
	}
	if got, want := edges(), map[uint16]uint64{1: 1, 2: 2, 3: 3, 4: 4}; !maps.Equal(got, want) {
		t.Fatalf("full map: edges %v, want %v", got, want)
	}
	if got := dropped(); got != 5+6 {
		t.Errorf("full map: %d packets dropped, want %d (ports 5 and 6)", got, 5+6)
	}

	key := func(port uint16) EdgeKey {
		k := EdgeKey{Netns: 1, Port: port, PktType: PacketOutgoing, Proto: 17, Family: 4}
		copy(k.Addr[:], remote[:])
		return k
	}
	if err := objs.DeleteEdges([]EdgeKey{key(2), key(3), key(99)}); err != nil {
		t.Fatal(err)
	}
	send(7, 1)
	send(8, 2)
	send(4, 1) // its flow is in the cache: counts by id on the kept edge
	send(9, 1) // the map is full again
	if got, want := edges(), map[uint16]uint64{1: 1, 4: 5, 7: 1, 8: 2}; !maps.Equal(got, want) {
		t.Errorf("after deleting ports 2 and 3: edges %v, want %v (new edges with fresh counters)", got, want)
	}
	if got := dropped(); got != 5+6+1 {
		t.Errorf("%d packets dropped, want %d", got, 5+6+1)
	}
}

// TestEdgeIDsRace creates the same new edges from two CPUs at once, so
// that both often take an id for one edge: the loser must give its id back
// and count on the winner's. Every packet is then counted exactly once,
// and once all edges are deleted, every id is free again: as many new
// edges as the map holds fit, none dropped.
func TestEdgeIDsRace(t *testing.T) {
	testenv.RequireCPUs(t, 2)
	const maxEdges = 512
	objs, progs := loadTagged(t, Options{MaxEdges: maxEdges, MaxFlows: 4 * maxEdges}, HookEgress)
	egress := progs[0]
	local, remote := [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 2}
	send := func(cpu int, ports []uint16) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return err
		}
		for _, port := range ports {
			if _, _, err := egress.Test(udp4(local, 40000, remote, port)); err != nil {
				return err
			}
		}
		return nil
	}
	ports := make([]uint16, maxEdges)
	for i := range ports {
		ports[i] = uint16(1000 + i)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for cpu := range 2 {
		wg.Go(func() { errs[cpu] = send(cpu, ports) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var keys []EdgeKey
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) {
		keys = append(keys, k)
		if v.Packets != 2 {
			t.Errorf("edge to port %d counted %d packets, want 2 (one from each CPU)", k.Port, v.Packets)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != maxEdges {
		t.Fatalf("%d edges, want %d", len(keys), maxEdges)
	}
	if err := objs.DeleteEdges(keys); err != nil {
		t.Fatal(err)
	}
	for i := range ports {
		ports[i] += maxEdges
	}
	if err := send(0, ports); err != nil {
		t.Fatal(err)
	}
	st, err := objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := objs.Edges(func(EdgeKey, EdgeValue) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != maxEdges || st[StatEdgesDropped] != 0 {
		t.Errorf("after deleting all edges: %d new edges fit and %d packets were dropped, want %d and 0 (an id was lost)", n, st[StatEdgesDropped], maxEdges)
	}
}

// TestFlowCacheKeepsDirection runs the tc program on synthetic packets: a
// UDP stream that keeps its direction (first datagram out) while thousands
// of other streams churn through a small flow map. Its packets hit the
// per-CPU flow cache, which must keep the flow alive in the LRU map, so no
// packet of it is ever counted as the start of a stream in the other
// direction.
func TestFlowCacheKeepsDirection(t *testing.T) {
	objs, progs := loadTagged(t, Options{MaxEdges: 8192, MaxFlows: 1024}, HookEgress, HookIngress)
	// On one CPU, as the test means: the stream's packets hit this CPU's
	// cache.
	pinOneCPU(t)
	// The cache refreshes the stream's LRU entry once per jiffy. Packets
	// run back to back by BPF_PROG_TEST_RUN take a few ms for thousands,
	// so the test lets time pass as a real stream does: a jiffy and more
	// every 100 new streams, a tenth of the flow map. (Without it, a run
	// where the tick did not advance lost the stream once a new one took
	// its cache slot: 1329 of 3001 counted, under load.)
	tick := jiffy(t)
	egress, ingress := progs[0], progs[1]
	run := func(p *ebpf.Program, pkt []byte) {
		t.Helper()
		if _, _, err := p.Test(pkt); err != nil {
			t.Fatal(err)
		}
	}
	local, remote := [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 2}
	run(egress, udp4(local, 40000, remote, 5201)) // the stream starts: OUTGOING to 5201
	const others = 3000
	for i := range others {
		// A reply of the stream, then the first datagram of another one.
		run(ingress, udp4(remote, 5201, local, 40000))
		run(egress, udp4(local, uint16(20000+i), remote, 6000))
		if i%100 == 99 {
			time.Sleep(2 * tick)
		}
	}
	var outgoing, wrong uint64
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) {
		switch {
		case k.PktType == PacketOutgoing && k.Port == 5201:
			outgoing += v.Packets
		case k.PktType == PacketHost:
			wrong += v.Packets
		}
	}); err != nil {
		t.Fatal(err)
	}
	if outgoing != others+1 || wrong != 0 {
		t.Errorf("stream counted %d packets OUTGOING to port 5201 and %d as incoming; want %d and 0", outgoing, wrong, others+1)
	}
}

// BenchmarkPacket measures what the program costs per packet, run by the
// kernel on a synthetic UDP packet (BPF_PROG_TEST_RUN): "tcx" is the tc tag
// program with its tail call into the shared program, as attached at TCX
// egress; "tcx-noop" the same hook with a program that only returns
// TCX_NEXT, its baseline. The metric ns/packet is the kernel's own timing.
func BenchmarkPacket(b *testing.B) {
	testenv.RequirePrivileged(b)
	// Both variants on the same packet, side by side. A test run sees it
	// on loopback's egress, where one run counts both ends: the
	// tail-call variant's tag program is the loopback one to match.
	tagFree, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tagFree.Close()
	if tagFree.TailCalls() {
		b.Fatalf("the tag-free programs did not load: %v", tagFree.TagFreeError())
	}
	tailCalls, err := Load(Options{TailCalls: true})
	if err != nil {
		b.Fatal(err)
	}
	defer tailCalls.Close()
	tag, err := tailCalls.TCTagProgram(1, 14, HookLoopback)
	if err != nil {
		b.Fatal(err)
	}
	defer tag.Close()
	noop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, tcxNext), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer noop.Close()
	pkt := udpPacket()
	for _, c := range []struct {
		name string
		prog *ebpf.Program
	}{{"tcx-noop", noop}, {"tcx-tailcall", tag}, {"tcx", tagFree.TCProgram()}} {
		b.Run(c.name, func(b *testing.B) {
			var per time.Duration
			for b.Loop() {
				_, d, err := c.prog.Benchmark(pkt, 100000, nil)
				if err != nil {
					b.Fatal(err)
				}
				per += d
			}
			b.ReportMetric(float64(per.Nanoseconds())/float64(b.N), "ns/packet")
		})
	}
	for _, objs := range []*Objects{tagFree, tailCalls} {
		n := 0
		if err := objs.Edges(func(k EdgeKey, v EdgeValue) {
			n++
			if k.Port != 5201 || v.Packets == 0 {
				b.Errorf("edge %+v = %+v, want port 5201 with packets", k, v)
			}
		}); err != nil || n != 2 {
			b.Fatalf("edges: %d, %v; want 2 (both ends)", n, err)
		}
	}
}

// currentNetnsCookie is the cookie of the test's network namespace.
func currentNetnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("SO_NETNS_COOKIE: %w", err)
	}
	return c, nil
}

// TestTagFree checks the programs that find the namespace themselves: they
// load on this kernel and count a packet under the tag of the namespace
// of its device (a test run's is loopback of the test's namespace), at tc
// (loopback's egress: both ends) and on a packet socket.
func TestTagFree(t *testing.T) {
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 64, MaxFlows: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	if objs.TailCalls() {
		if olderThan(kernelRelease(), 6, 2) {
			t.Skipf("Linux %s: tail-call variant (%v)", kernelRelease(), objs.TagFreeError())
		}
		if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
			t.Skipf("no kernel BTF: tail-call variant (%v)", objs.TagFreeError())
		}
		t.Fatalf("the tag-free programs did not load on Linux %s with BTF: %v", kernelRelease(), objs.TagFreeError())
	}
	if _, err := objs.TagProgram(1); err == nil {
		t.Error("TagProgram succeeded on the tag-free variant, want an error")
	}
	cookie, err := currentNetnsCookie()
	if err != nil {
		t.Fatal(err)
	}
	tag := NetnsTag(cookie)
	a, b := [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 2}
	if ret, _, err := objs.TCProgram().Test(udp4(a, 40000, b, 5201)); err != nil || int32(ret) != tcxNext {
		t.Fatalf("tc program: %d, %v; want TCX_NEXT", int32(ret), err)
	}
	if _, _, err := objs.SocketProgram().Test(udp4(a, 40001, b, 5202)); err != nil {
		t.Fatal(err)
	}
	type edge struct {
		netns   uint32
		pktType uint8
		port    uint16
	}
	got := map[edge]uint64{}
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) { got[edge{k.Netns, k.PktType, k.Port}] += v.Packets }); err != nil {
		t.Fatal(err)
	}
	want := map[edge]uint64{
		{tag, PacketOutgoing, 5201}: 1, // tc at loopback: the sender's end
		{tag, PacketHost, 5201}:     1, // and the receiver's
		{tag, PacketHost, 5202}:     1, // the packet socket: received
	}
	if !maps.Equal(got, want) {
		t.Errorf("edges %v, want %v (namespace cookie %d)", got, want, cookie)
	}
}

func TestSumEdge(t *testing.T) {
	for _, c := range []struct {
		name   string
		perCPU []EdgeValue
		want   EdgeValue
	}{
		{"no CPUs", nil, EdgeValue{}},
		{"one CPU", []EdgeValue{{Packets: 3, Bytes: 300, FirstSeen: 10, LastSeen: 20}},
			EdgeValue{Packets: 3, Bytes: 300, FirstSeen: 10, LastSeen: 20}},
		{"a CPU that never saw the edge keeps zero times out", []EdgeValue{
			{},
			{Packets: 2, Bytes: 100, FirstSeen: 50, LastSeen: 60},
			{Packets: 1, Bytes: 40, FirstSeen: 30, LastSeen: 55},
		}, EdgeValue{Packets: 3, Bytes: 140, FirstSeen: 30, LastSeen: 60}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sumEdge(c.perCPU); got != c.want {
				t.Errorf("sumEdge = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestJiffyClock(t *testing.T) {
	// Sampled at jiffy 1000, 5 s after the clock's zero, 250 Hz; early:
	// 2 ms after it.
	c := jiffyClock{jiffies: 1000, ns: 5_000_000_000, tick: 4_000_000}
	early := jiffyClock{jiffies: 1000, ns: 2_000_000, tick: 4_000_000}
	for _, tt := range []struct {
		name    string
		clock   jiffyClock
		jiffies uint64
		want    uint64
	}{
		{"never", c, 0, 0},
		{"at the sample", c, 1000, 5_000_000_000},
		{"before it", c, 750, 4_000_000_000},
		{"after it", c, 1001, 5_004_000_000},
		{"long before it", c, 1, 1_004_000_000},
		{"before the clock's zero: its earliest time", early, 999, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.clock.mono(tt.jiffies); got != tt.want {
				t.Errorf("mono(%d) = %d, want %d", tt.jiffies, got, tt.want)
			}
		})
	}
}

// TestEdgeTimes checks that an edge's first and last seen times, counted
// in jiffies by the kernel, come out as CLOCK_MONOTONIC within a tick of
// when its packets ran.
func TestEdgeTimes(t *testing.T) {
	objs, progs := loadTagged(t, Options{MaxEdges: 8, MaxFlows: 8}, HookEgress)
	egress := progs[0]
	mono := func() uint64 {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		return uint64(ts.Nano())
	}
	t0 := mono()
	if _, _, err := egress.Test(udpPacket()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // several ticks apart
	t1 := mono()
	if _, _, err := egress.Test(udpPacket()); err != nil {
		t.Fatal(err)
	}
	t2 := mono()
	var got EdgeValue
	if err := objs.Edges(func(_ EdgeKey, v EdgeValue) { got = v }); err != nil {
		t.Fatal(err)
	}
	slack := 2 * objs.tick
	if got.FirstSeen+slack < t0 || got.FirstSeen > t1+slack {
		t.Errorf("FirstSeen = %d, want within a tick of [%d, %d]", got.FirstSeen, t0, t1)
	}
	if got.LastSeen+slack < t1 || got.LastSeen > t2+slack {
		t.Errorf("LastSeen = %d, want within a tick of [%d, %d]", got.LastSeen, t1, t2)
	}
	if got.LastSeen <= got.FirstSeen {
		t.Errorf("LastSeen %d not after FirstSeen %d (30 ms apart)", got.LastSeen, got.FirstSeen)
	}
}

// flowSlot is flow_slot of networkgraph.bpf.c: the flow-cache slot of k
// within a CPU's block.
func flowSlot(k networkgraphFlowKey) uint32 {
	w := func(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
	h := k.Netns * 0x9e3779b1
	h = (h ^ (uint32(k.LocalPort) | uint32(k.RemotePort)<<16)) * 0x85ebca6b
	h = (h ^ w(k.LocalAddr[0:]) ^ w(k.LocalAddr[12:])) * 0xc2b2ae35
	h = (h ^ w(k.RemoteAddr[0:]) ^ w(k.RemoteAddr[12:])) * 0x9e3779b1
	return (h >> 16) & (flowCacheSlots - 1)
}

// flowCacheSlots is FLOW_CACHE_SLOTS: slots per CPU.
const flowCacheSlots = 256

// TestFlowCacheRefreshesFlow checks that a flow whose packets all hit the
// flow cache stays in the LRU flows map while other flows churn through
// it: the first hit in each tick looks its flow up in the map (marking it
// recent). The other flows never share its slot, so only those lookups can
// keep it; one packet of it per round is too few for a count of hits.
func TestFlowCacheRefreshesFlow(t *testing.T) {
	const maxFlows, rounds = 128, 8
	objs, progs := loadTagged(t, Options{MaxEdges: 1024, MaxFlows: maxFlows}, HookEgress)
	egress := progs[0]
	run := func(pkt []byte) {
		t.Helper()
		if _, _, err := egress.Test(pkt); err != nil {
			t.Fatal(err)
		}
	}
	local, remote := [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 2}
	key := func(sport, dport uint16) networkgraphFlowKey {
		k := networkgraphFlowKey{Netns: 1, LocalPort: sport, RemotePort: dport, Proto: 17, Family: 4}
		copy(k.LocalAddr[:], local[:])
		copy(k.RemoteAddr[:], remote[:])
		return k
	}
	kept := key(40000, 5201)
	slot := flowSlot(kept)
	// All on one CPU: a packet of the kept flow on another CPU would miss
	// that CPU's cache and look the flow up (or put it back) itself.
	pinOneCPU(t)

	// The kept flow's first packet fills its slot on the CPU that ran it;
	// that slot holding it shows flowSlot agrees with the program.
	run(udp4(local, 40000, remote, 5201))
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for cpu := range uint32(ncpu) {
		var s networkgraphFlowCacheSlot
		if err := objs.objs.FlowCache.Lookup(cpu*flowCacheSlots+slot, &s); err != nil {
			t.Fatal(err)
		}
		found = found || (s.Valid == 1 && s.Key == kept)
	}
	if !found {
		t.Fatalf("no CPU's slot %d holds the flow: flowSlot no longer matches flow_slot in networkgraph.bpf.c", slot)
	}

	// A new tick per round.
	wait := time.Duration(2*objs.tick) * time.Nanosecond
	sport := uint16(1)
	for range rounds {
		time.Sleep(wait)
		run(udp4(local, 40000, remote, 5201)) // a hit, due for a refresh
		for n := 0; n < maxFlows/2; sport++ {
			if flowSlot(key(sport, 6000)) == slot {
				continue
			}
			run(udp4(local, sport, remote, 6000))
			n++
		}
	}
	var v networkgraphFlowValue
	if err := objs.objs.Flows.Lookup(&kept, &v); err != nil {
		t.Fatalf("after %d other flows through a flows map of %d, the cached flow is gone from it: %v", rounds*maxFlows/2, maxFlows, err)
	}
	if v.PktType != PacketOutgoing {
		t.Errorf("the cached flow's direction in the flows map is %d, want %d (OUTGOING)", v.PktType, PacketOutgoing)
	}
}

func TestOlderThan(t *testing.T) {
	for _, c := range []struct {
		rel  string
		want bool
	}{
		{"6.18.44-fc-v782", false},
		{"5.12.0", false},
		{"5.12", false},
		{"5.15.0-91-generic", false},
		{"5.11.22", true},
		{"5.4.0-150-generic", true},
		{"4.19.0-26-amd64", true},
		{"10.0.1", false},
		{"", false},
		{"unknown", false},
		{"6", false},
	} {
		if got := olderThan(c.rel, minKernelMajor, minKernelMinor); got != c.want {
			t.Errorf("olderThan(%q, %d, %d) = %v, want %v", c.rel, minKernelMajor, minKernelMinor, got, c.want)
		}
	}
}

// pinOneCPU keeps the calling goroutine on its thread, and the thread on
// the first CPU it may run on, until the test ends.
func pinOneCPU(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	for cpu := range 1024 {
		if all.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.SchedSetaffinity(0, &all)
		runtime.UnlockOSThread()
	})
}

// jiffy is the kernel's tick length (the resolution of the coarse clock,
// which advances with jiffies).
func jiffy(t *testing.T) time.Duration {
	t.Helper()
	var res unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &res); err != nil || res.Nano() <= 0 {
		t.Fatalf("clock_getres CLOCK_MONOTONIC_COARSE = %v: %v", res.Nano(), err)
	}
	return time.Duration(res.Nano())
}
