package networkgraph

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Map key and value types, generated from the C structs in
// bpf/include/networkgraph.h.
type (
	// EdgeKey identifies one edge in one watched network namespace.
	EdgeKey = networkgraphEdgeKey
	// EdgeValue holds an edge's cumulative counters and kernel times.
	EdgeValue = networkgraphEdgeValue
	// Stat indexes the kernel-side counters read by Stats.
	Stat = networkgraphStat
)

// Kernel-side counters of what could not be recorded.
const (
	// StatEdgesDropped counts packets not counted because the edge map was
	// full.
	StatEdgesDropped = networkgraphStatSTAT_EDGES_DROPPED
	// StatTCPUntracked counts TCP packets of connections whose SYN was not
	// seen (they started before the namespace was attached).
	StatTCPUntracked = networkgraphStatSTAT_TCP_UNTRACKED
	// StatFlowsDropped counts flows that could not be remembered.
	StatFlowsDropped = networkgraphStatSTAT_FLOWS_DROPPED
	// StatConnsDropped counts TCP connections not recorded at their
	// socket (Options.Socket) because the kernel refused the socket
	// storage.
	StatConnsDropped = networkgraphStatSTAT_CONNS_DROPPED
	// NumStats is the number of counters Stats returns.
	NumStats = int(networkgraphStatSTAT_MAX)
)

// Packet types as the kernel reports them (linux/if_packet.h).
const (
	PacketHost     = 0
	PacketOutgoing = 4
)

// Defaults for Options.
const (
	DefaultMaxEdges = 16384
	// DefaultMaxFlows is the largest flows map Load sizes by itself
	// (FlowsFor).
	DefaultMaxFlows = 65536
)

// offsetCB0 is offsetof(struct __sk_buff, cb[0]), part of the kernel UAPI;
// cb[1] and cb[2] follow.
const offsetCB0 = 48

// Hook is where a tc tag program is attached: enum hook of
// networkgraph.h, which the shared program reads from skb->cb[2].
type Hook uint32

// The hooks of TCTagProgram.
const (
	HookIngress  Hook = 0 // TCX ingress
	HookEgress   Hook = 1 // TCX egress
	HookLoopback Hook = 2 // TCX egress of a loopback device: counts both ends
)

// tcxNext is TCX_NEXT: let the packet go on.
const tcxNext = -1

// Options size the kernel maps. Zero values take the defaults.
type Options struct {
	// MaxEdges bounds the edges recorded at once, over all namespaces.
	// Their counters take 32 bytes per CPU each, all allocated by Load
	// (the default: 512 KiB per CPU), plus about 100 bytes per edge seen.
	MaxEdges uint32
	// MaxFlows bounds the flows whose direction is remembered (LRU),
	// preallocated by Load at about 120 bytes each (65536: 7.5 MiB), and,
	// with Socket, the TCP connections followed at once (allocated as
	// they open, about 100 bytes each).
	// 0 means FlowsFor(MaxEdges).
	MaxFlows uint32
	// TailCalls loads the tail-call variant (per-namespace tag programs,
	// TagProgram and TCTagProgram) even where the tag-free programs
	// load: for tests. Load takes it by itself on kernels without
	// bpf_cast_to_kern_ctx and BTF (before 6.2).
	TailCalls bool
	// Socket loads the programs of attach=socket too: TCP counted per
	// connection at its socket (AttachTCPState, ReadConnections), the
	// packet programs letting TCP packets by. Where the kernel refuses
	// them, Load loads the packet programs alone, counting TCP too, and
	// SocketError says why. Never with TailCalls.
	Socket bool
	// KernelBTF, when set, keeps the running kernel's BTF, which the
	// tag-free programs are relocated against, from one Load to the next:
	// decoding it costs each Load about 40 ms and 4 MB of allocations
	// (BenchmarkLoad), keeping it about 3.4 MiB of heap. Nil decodes it
	// for this Load alone.
	KernelBTF *btf.Cache
}

// edgeIDs is the number of edge ids for maxEdges edges on ncpu CPUs: two
// spare ones per CPU beyond maxEdges. A program run that creates an edge
// holds an id from taking it to inserting the edge, and a run that loses
// the race to create the same edge gives it back only then; with at most
// two runs per CPU at once (process context and the softirq interrupting
// it), the spare ones leave an id for every new edge while the edges map
// has room.
func edgeIDs(maxEdges uint32, ncpu int) uint32 { return maxEdges + 2*uint32(max(ncpu, 1)) }

// Objects are the loaded program and maps. Close releases them; sockets
// with a tag program attached keep the program alive until they close.
type Objects struct {
	// objs holds the programs and maps of the variant loaded; the other
	// variant's are nil.
	objs networkgraphObjects
	// tailCalls is true for the tail-call variant, and tagFreeErr says
	// why the tag-free one did not load (nil when not tried).
	tailCalls  bool
	tagFreeErr error
	// socket is true when the attach=socket programs are loaded, and
	// socketErr says why they did not load (nil when not tried).
	socket    bool
	socketErr error
	// iter is the TCP socket iterator's link (ReadConnections), made on
	// first use.
	iter *link.Iter
	// epoch numbers the watches of namespaces (WatchNetns): a connection
	// record of an earlier watch is stale.
	epoch atomic.Uint32
	// firstMu guards first, the tags of the watched namespaces whose
	// first walk is pending; the first_walks map holds their number.
	firstMu sync.Mutex
	first   map[uint32]bool
	// tick is the length of a jiffy in ns: the kernel counts edge times
	// in jiffies.
	tick uint64
}

// The programs and maps of each variant (LoadAndAssign loads only these).
type (
	commonObjects struct {
		ClockSample       *ebpf.Map     `ebpf:"clock_sample"`
		Counters          *ebpf.Map     `ebpf:"counters"`
		Edges             *ebpf.Map     `ebpf:"edges"`
		FlowCache         *ebpf.Map     `ebpf:"flow_cache"`
		Flows             *ebpf.Map     `ebpf:"flows"`
		FreeIds           *ebpf.Map     `ebpf:"free_ids"`
		Stats             *ebpf.Map     `ebpf:"stats"`
		NetworkGraphClock *ebpf.Program `ebpf:"network_graph_clock"`
	}
	tagFreeObjects struct {
		commonObjects
		NetworkGraphSocket *ebpf.Program `ebpf:"network_graph_socket"`
		NetworkGraphTcx    *ebpf.Program `ebpf:"network_graph_tcx"`
	}
	// socketObjects are tagFreeObjects with attach=socket's programs,
	// whose packet programs let TCP by (tcp_at_socket).
	socketObjects struct {
		tagFreeObjects
		Conns                *ebpf.Map     `ebpf:"conns"`
		FirstWalks           *ebpf.Map     `ebpf:"first_walks"`
		Watched              *ebpf.Map     `ebpf:"watched"`
		NetworkGraphIterTcp  *ebpf.Program `ebpf:"network_graph_iter_tcp"`
		NetworkGraphTcpState *ebpf.Program `ebpf:"network_graph_tcp_state"`
	}
	tailCallObjects struct {
		commonObjects
		Entry          *ebpf.Map     `ebpf:"entry"`
		EntryTc        *ebpf.Map     `ebpf:"entry_tc"`
		NetworkGraph   *ebpf.Program `ebpf:"network_graph"`
		NetworkGraphTc *ebpf.Program `ebpf:"network_graph_tc"`
	}
)

func (c commonObjects) into(o *networkgraphObjects) {
	o.ClockSample, o.Counters, o.Edges, o.FlowCache = c.ClockSample, c.Counters, c.Edges, c.FlowCache
	o.Flows, o.FreeIds, o.Stats, o.NetworkGraphClock = c.Flows, c.FreeIds, c.Stats, c.NetworkGraphClock
}

// Load loads and verifies the network-graph programs once. Where the
// kernel allows it (Linux 6.2 with BTF), they are the tag-free ones,
// attached as they are in every namespace (SocketProgram, TCProgram),
// which tag edges with NetnsTag of the namespace's cookie. Elsewhere (or with
// opts.TailCalls) it links them as the tail-call targets of the
// per-namespace tag programs (TagProgram, TCTagProgram). It needs
// CAP_BPF (root) and costs tens of milliseconds, mostly in the verifier
// (BenchmarkLoad).
func Load(opts Options) (*Objects, error) {
	if opts.MaxEdges == 0 {
		opts.MaxEdges = DefaultMaxEdges
	}
	if opts.MaxFlows == 0 {
		opts.MaxFlows = FlowsFor(opts.MaxEdges)
	}
	spec, err := loadNetworkgraph()
	if err != nil {
		return nil, fmt.Errorf("read network-graph eBPF object: %w", err)
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("count the possible CPUs: %w", err)
	}
	// MaxEdges edges, and ids for as many, plus a few spare ones (see
	// edgeIDs).
	spec.Maps[networkgraphMapEdges].MaxEntries = opts.MaxEdges
	ids := edgeIDs(opts.MaxEdges, ncpu)
	for _, m := range []string{networkgraphMapCounters, networkgraphMapFreeIds} {
		spec.Maps[m].MaxEntries = ids
	}
	v, ok := spec.Variables["edge_ids"]
	if !ok {
		return nil, errors.New("network-graph eBPF object has no edge_ids variable: regenerate it (make generate-bpf)")
	}
	if err := v.Set(ids); err != nil {
		return nil, fmt.Errorf("set the network-graph edge id count: %w", err)
	}
	spec.Maps[networkgraphMapFlows].MaxEntries = opts.MaxFlows
	// One block of flow-cache slots per CPU.
	spec.Maps[networkgraphMapFlowCache].MaxEntries *= uint32(ncpu)

	// The coarse clocks advance by one jiffy: their resolution is its
	// length.
	var res unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &res); err != nil || res.Nano() <= 0 {
		return nil, fmt.Errorf("read the kernel tick length (clock_getres CLOCK_MONOTONIC_COARSE = %v): %w", res.Nano(), err)
	}
	o := &Objects{tick: uint64(res.Nano())}
	if opts.Socket && !opts.TailCalls {
		err := o.loadSocket(spec, opts)
		if err == nil {
			return o, nil
		}
		o.socketErr = err
	}
	if !opts.TailCalls {
		var tf tagFreeObjects
		err := spec.Copy().LoadAndAssign(&tf, &ebpf.CollectionOptions{Cache: opts.KernelBTF})
		if err == nil {
			tf.into(&o.objs)
			o.objs.NetworkGraphSocket, o.objs.NetworkGraphTcx = tf.NetworkGraphSocket, tf.NetworkGraphTcx
			return o, nil
		}
		o.tagFreeErr = loadError(err)
	}
	var tc tailCallObjects
	if err := spec.LoadAndAssign(&tc, nil); err != nil {
		return nil, loadError(err)
	}
	tc.into(&o.objs)
	o.objs.Entry, o.objs.EntryTc, o.objs.NetworkGraph, o.objs.NetworkGraphTc = tc.Entry, tc.EntryTc, tc.NetworkGraph, tc.NetworkGraphTc
	o.tailCalls = true
	if err := o.objs.Entry.Put(uint32(0), o.objs.NetworkGraph); err != nil {
		o.Close()
		return nil, fmt.Errorf("link network-graph program into its tail-call map: %w", err)
	}
	if err := o.objs.EntryTc.Put(uint32(0), o.objs.NetworkGraphTc); err != nil {
		o.Close()
		return nil, fmt.Errorf("link network-graph tc program into its tail-call map: %w", err)
	}
	return o, nil
}

// loadSocket loads the tag-free programs with attach=socket's, TCP left to
// the latter.
func (o *Objects) loadSocket(spec *ebpf.CollectionSpec, opts Options) error {
	spec = spec.Copy()
	v, ok := spec.Variables["tcp_at_socket"]
	if !ok {
		return errors.New("network-graph eBPF object has no tcp_at_socket variable: regenerate it (make generate-bpf)")
	}
	if err := v.Set(uint32(1)); err != nil {
		return fmt.Errorf("set tcp_at_socket: %w", err)
	}
	var so socketObjects
	if err := spec.LoadAndAssign(&so, &ebpf.CollectionOptions{Cache: opts.KernelBTF}); err != nil {
		return loadError(err)
	}
	so.into(&o.objs)
	o.objs.NetworkGraphSocket, o.objs.NetworkGraphTcx = so.NetworkGraphSocket, so.NetworkGraphTcx
	o.objs.Conns, o.objs.Watched = so.Conns, so.Watched
	o.objs.FirstWalks = so.FirstWalks
	o.objs.NetworkGraphTcpState, o.objs.NetworkGraphIterTcp = so.NetworkGraphTcpState, so.NetworkGraphIterTcp
	o.socket = true
	return nil
}

// loadError says why loading the programs failed.
func loadError(err error) error {
	if rel := kernelRelease(); olderThan(rel, minKernelMajor, minKernelMinor) {
		return fmt.Errorf("load network-graph eBPF program: Linux %s is too old: network-graph needs %d.%d or later (BPF ISA v3 with atomic fetch-and-add): %w",
			rel, minKernelMajor, minKernelMinor, err)
	}
	var verr *ebpf.VerifierError
	if errors.As(err, &verr) {
		return fmt.Errorf("load network-graph eBPF program: %+v", verr)
	}
	return fmt.Errorf("load network-graph eBPF program: %w", err)
}

// TailCalls reports whether the tail-call variant is loaded: attach with
// TagProgram and TCTagProgram. Otherwise attach SocketProgram and
// TCProgram.
func (o *Objects) TailCalls() bool { return o.tailCalls }

// TagFreeError is why the tag-free programs did not load, when Load fell
// back to the tail-call variant (nil when it did not try them).
func (o *Objects) TagFreeError() error { return o.tagFreeErr }

// Socket reports whether attach=socket's programs are loaded
// (Options.Socket): call AttachTCPState once, WatchNetns for each
// namespace and ReadConnections in each at every interval. The packet
// programs then let TCP by.
func (o *Objects) Socket() bool { return o.socket }

// SocketError is why attach=socket's programs did not load, when
// Options.Socket asked for them (nil otherwise).
func (o *Objects) SocketError() error { return o.socketErr }

// AttachTCPState attaches attach=socket's TCP state program to the
// kernel's inet_sock_set_state tracepoint (tp_btf), where it runs at every
// state change of every TCP socket of the node: it counts the connections
// of watched namespaces at their close (whole, when no walk recorded
// them), and records those whose handshake ends while their namespace
// awaits its first walk. The caller closes the link before Objects.
func (o *Objects) AttachTCPState() (link.Link, error) {
	if !o.socket {
		return nil, errors.New("attach the TCP state program: attach=socket's programs are not loaded (Options.Socket)")
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: o.objs.NetworkGraphTcpState, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return nil, fmt.Errorf("attach the TCP state program to tracepoint inet_sock_set_state (tp_btf): %w", err)
	}
	return l, nil
}

// States of a watched namespace (struct watch: WATCH_FIRST, WATCH_ON).
const (
	watchFirst uint8 = 1
	watchOn    uint8 = 2
)

// WatchNetns has attach=socket's programs follow the TCP connections of
// the namespace tagged tag (NetnsTag): those whose handshake ends from now
// on, and those open already, found by the next ReadConnections in the
// namespace (its first walk), which the caller follows with
// WatchNetnsWalked.
func (o *Objects) WatchNetns(tag uint32) error {
	if !o.socket {
		return errors.New("network-graph: WatchNetns needs attach=socket's programs (Options.Socket)")
	}
	// Counted as pending first, so the programs never see the namespace
	// in WATCH_FIRST while first_walks says none is.
	if err := o.firstWalk(tag, true); err != nil {
		return fmt.Errorf("watch network namespace tag %d: %w", tag, err)
	}
	w := networkgraphWatch{Epoch: o.epoch.Add(1), State: watchFirst}
	if err := o.objs.Watched.Put(tag, w); err != nil {
		_ = o.firstWalk(tag, false)
		return fmt.Errorf("watch network namespace tag %d: %w", tag, err)
	}
	return nil
}

// firstWalk marks the namespace tagged tag as awaiting its first walk, or
// no longer, and stores the number of those awaiting one in first_walks.
func (o *Objects) firstWalk(tag uint32, pending bool) error {
	o.firstMu.Lock()
	defer o.firstMu.Unlock()
	if o.first[tag] == pending {
		return nil
	}
	if pending {
		if o.first == nil {
			o.first = map[uint32]bool{}
		}
		o.first[tag] = true
	} else {
		delete(o.first, tag)
	}
	if err := o.objs.FirstWalks.Put(uint32(0), uint32(len(o.first))); err != nil {
		return fmt.Errorf("count the namespaces awaiting their first walk: %w", err)
	}
	return nil
}

// WatchNetnsWalked says that the first ReadConnections of the namespace
// tagged tag, since WatchNetns, has run: every connection open before it
// was watched is recorded, so the programs record a new connection no
// more at its handshake (an allocation of socket storage), but count it
// whole at its close, or at the walk that first finds it open.
func (o *Objects) WatchNetnsWalked(tag uint32) error {
	var w networkgraphWatch
	if err := o.objs.Watched.Lookup(tag, &w); err != nil {
		return fmt.Errorf("watch network namespace tag %d after its first walk: %w", tag, err)
	}
	w.State = watchOn
	if err := o.objs.Watched.Update(tag, w, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("watch network namespace tag %d after its first walk: %w", tag, err)
	}
	return o.firstWalk(tag, false)
}

// UnwatchNetns stops counting the connections of the namespace tagged
// tag. The records of its connections stay with their sockets, stale: a
// later WatchNetns of the namespace starts a new epoch.
func (o *Objects) UnwatchNetns(tag uint32) error {
	if !o.socket {
		return nil
	}
	if err := o.objs.Watched.Delete(tag); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unwatch network namespace tag %d: %w", tag, err)
	}
	return o.firstWalk(tag, false)
}

// ReadConnections counts on their edges what the live TCP connections of
// the calling thread's network namespace did since the last read, and
// records those open before the namespace was watched (their counters
// until now are not counted). The caller runs it on a thread in the
// namespace (the iterator walks the namespace it is opened in); it walks
// every TCP socket of the namespace once, about 0.2 µs each (see
// docs/benchmarks.md).
func (o *Objects) ReadConnections() error {
	if !o.socket {
		return errors.New("network-graph: ReadConnections needs attach=socket's programs (Options.Socket)")
	}
	if o.iter == nil {
		it, err := link.AttachIter(link.IterOptions{Program: o.objs.NetworkGraphIterTcp})
		if err != nil {
			return fmt.Errorf("create the TCP socket iterator: %w", err)
		}
		o.iter = it
	}
	rd, err := o.iter.Open()
	if err != nil {
		return fmt.Errorf("open the TCP socket iterator: %w", err)
	}
	defer rd.Close()
	// The program writes nothing: reading runs it over every socket.
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return fmt.Errorf("run the TCP socket iterator: %w", err)
	}
	return nil
}

// SocketProgram is the tag-free socket filter, for the packet socket of
// every namespace; nil for the tail-call variant. It stays Objects': the
// caller attaches it and does not close it.
func (o *Objects) SocketProgram() *ebpf.Program { return o.objs.NetworkGraphSocket }

// TCProgram is the tag-free tc program, for every TCX hook (ingress and
// egress, loopback at egress alone) of every namespace; nil for the
// tail-call variant. It stays Objects', as SocketProgram.
func (o *Objects) TCProgram() *ebpf.Program { return o.objs.NetworkGraphTcx }

// NetnsTag is the tag the tag-free programs give the edges of the network
// namespace whose cookie (SO_NETNS_COOKIE) is cookie: its low 32 bits.
// Cookies are handed out in sequence and never reused: two namespaces
// have the same tag only 2^32 namespaces apart, which the caller refuses.
func NetnsTag(cookie uint64) uint32 { return uint32(cookie) }

// TagProgram returns a tiny socket filter that stores tag in skb->cb[0]
// and tail-calls the network-graph program, so the shared program knows
// which namespace a packet was seen in. It is seven instructions and
// verifies in microseconds. The caller attaches it to a socket and then
// closes it.
func (o *Objects) TagProgram(tag uint32) (*ebpf.Program, error) {
	if !o.tailCalls {
		return nil, errors.New("network-graph: TagProgram needs the tail-call variant (Options.TailCalls)")
	}
	if tag > 1<<31-1 {
		return nil, fmt.Errorf("namespace tag %d out of range", tag)
	}
	spec := &ebpf.ProgramSpec{
		Name:    "ng_tag",
		Type:    ebpf.SocketFilter,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm32(asm.R2, int32(tag)),
			asm.StoreMem(asm.R1, offsetCB0, asm.R2, asm.Word),
			asm.LoadMapPtr(asm.R2, o.objs.Entry.FD()),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnTailCall.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, fmt.Errorf("load tag program for namespace tag %d: %w", tag, err)
	}
	return prog, nil
}

// TCTagProgram returns a tiny tc program for one TCX hook: it stores tag,
// the offset of the network header (the interface's link-layer header
// length, e.g. 14 for Ethernet and loopback, 0 for L3 devices) and the hook
// in skb->cb[0..2] and tail-calls the shared tc program; it always lets the
// packet go on (TCX_NEXT). The caller attaches it with link.AttachTCX (at
// egress for HookEgress and HookLoopback, at ingress for HookIngress) and
// then closes it. A loopback device takes one program, HookLoopback at
// egress, which counts each packet for the sending and the receiving end.
func (o *Objects) TCTagProgram(tag, l3 uint32, hook Hook) (*ebpf.Program, error) {
	if !o.tailCalls {
		return nil, errors.New("network-graph: TCTagProgram needs the tail-call variant (Options.TailCalls)")
	}
	if tag > 1<<31-1 {
		return nil, fmt.Errorf("namespace tag %d out of range", tag)
	}
	if l3 > 64 {
		return nil, fmt.Errorf("link-layer header length %d: at most 64", l3)
	}
	switch hook {
	case HookIngress, HookEgress, HookLoopback:
	default:
		return nil, fmt.Errorf("tc hook %d: want HookIngress, HookEgress or HookLoopback", hook)
	}
	spec := &ebpf.ProgramSpec{
		Name:    "ng_tc_tag",
		Type:    ebpf.SchedCLS,
		License: "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm32(asm.R2, int32(tag)),
			asm.StoreMem(asm.R1, offsetCB0, asm.R2, asm.Word),
			asm.Mov.Imm32(asm.R2, int32(l3)),
			asm.StoreMem(asm.R1, offsetCB0+4, asm.R2, asm.Word),
			asm.Mov.Imm32(asm.R2, int32(hook)),
			asm.StoreMem(asm.R1, offsetCB0+8, asm.R2, asm.Word),
			asm.LoadMapPtr(asm.R2, o.objs.EntryTc.FD()),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnTailCall.Call(),
			asm.Mov.Imm(asm.R0, tcxNext),
			asm.Return(),
		},
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, fmt.Errorf("load tc tag program for namespace tag %d: %w", tag, err)
	}
	return prog, nil
}

// Edges calls fn for every edge in the kernel map. Counters are
// cumulative since the edge was created; the kernel keeps them per CPU and
// Edges sums them (FirstSeen is the earliest, LastSeen the latest of all
// CPUs). Times are CLOCK_MONOTONIC ns at the kernel tick's resolution.
func (o *Objects) Edges(fn func(EdgeKey, EdgeValue)) error {
	c, err := o.clock()
	if err != nil {
		return err
	}
	var (
		k      EdgeKey
		id     uint32
		perCPU []EdgeValue
	)
	it := o.objs.Edges.Iterate()
	for it.Next(&k, &id) {
		if err := o.objs.Counters.Lookup(id, &perCPU); err != nil {
			return fmt.Errorf("read network-graph counters of edge id %d: %w", id, err)
		}
		v := sumEdge(perCPU)
		v.FirstSeen, v.LastSeen = c.mono(v.FirstSeen), c.mono(v.LastSeen)
		fn(k, v)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read network-graph edges map: %w", err)
	}
	return nil
}

// jiffyClock converts the kernel's jiffies into CLOCK_MONOTONIC ns, from
// one moment read in both clocks.
type jiffyClock struct {
	jiffies, ns, tick uint64
}

// clock samples the kernel's clocks (network_graph_clock).
func (o *Objects) clock() (jiffyClock, error) {
	// A socket filter's test run wants at least an Ethernet header.
	if _, _, err := o.objs.NetworkGraphClock.Test(make([]byte, 14)); err != nil {
		return jiffyClock{}, fmt.Errorf("sample the kernel clocks: %w", err)
	}
	var j, ns uint64
	if err := o.objs.ClockSample.Lookup(uint32(0), &j); err != nil {
		return jiffyClock{}, fmt.Errorf("read the kernel clock sample: %w", err)
	}
	if err := o.objs.ClockSample.Lookup(uint32(1), &ns); err != nil {
		return jiffyClock{}, fmt.Errorf("read the kernel clock sample: %w", err)
	}
	return jiffyClock{jiffies: j, ns: ns, tick: o.tick}, nil
}

// mono converts a time in jiffies (0: none) into CLOCK_MONOTONIC ns.
func (c jiffyClock) mono(j uint64) uint64 {
	if j == 0 {
		return 0
	}
	ns := int64(c.ns) + int64(j-c.jiffies)*int64(c.tick) // j-c.jiffies wraps to negative
	return uint64(max(ns, 1))
}

// sumEdge folds the per-CPU counters of one edge into one value. A CPU that
// never saw the edge has all zeros.
func sumEdge(perCPU []EdgeValue) EdgeValue {
	var sum EdgeValue
	for _, v := range perCPU {
		sum.Packets += v.Packets
		sum.Bytes += v.Bytes
		if v.FirstSeen != 0 && (sum.FirstSeen == 0 || v.FirstSeen < sum.FirstSeen) {
			sum.FirstSeen = v.FirstSeen
		}
		sum.LastSeen = max(sum.LastSeen, v.LastSeen)
	}
	return sum
}

// DeleteEdges removes edges from the kernel map, zeroes their counters and
// frees their ids for new edges. Keys already gone are ignored.
//
// The caller must have detached every program of the edges' namespaces
// first: a packet of a flow in the kernel's flow cache reaches its edge's
// counters by id alone, and would count on whatever edge takes the id next.
func (o *Objects) DeleteEdges(keys []EdgeKey) (retErr error) {
	if len(keys) == 0 {
		return nil
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("delete network-graph edges: %w", err)
	}
	zero := make([]EdgeValue, ncpu)
	freed := map[uint32]bool{}
	defer func() {
		// Even on an error: the ids freed so far must leave the cache.
		if err := o.forgetCachedFlows(freed); err != nil && retErr == nil {
			retErr = err
		}
	}()
	for i := range keys {
		var id uint32
		if err := o.objs.Edges.Lookup(&keys[i], &id); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return fmt.Errorf("delete network-graph edge: %w", err)
		}
		if err := o.objs.Edges.Delete(&keys[i]); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue // deleted meanwhile, by another call: its id too
			}
			return fmt.Errorf("delete network-graph edge: %w", err)
		}
		if err := o.objs.Counters.Put(id, zero); err != nil {
			return fmt.Errorf("zero the counters of network-graph edge id %d: %w", id, err)
		}
		if err := o.objs.FreeIds.Update(nil, id, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("free network-graph edge id %d: %w", id, err)
		}
		freed[id] = true
	}
	return nil
}

// forgetCachedFlows invalidates the flow-cache slots that hold one of the
// edge ids freed. A namespace attached again has the same tag (its
// cookie's), so without this a flow of it cached before its detach would
// count, by id alone, on an edge deleted meanwhile (lost) or on the edge
// that took the id next (misattributed). The slots of the namespace are
// idle (its programs are detached): nothing writes them meanwhile.
func (o *Objects) forgetCachedFlows(freed map[uint32]bool) error {
	if len(freed) == 0 || o.objs.FlowCache == nil {
		return nil
	}
	n := int(o.objs.FlowCache.MaxEntries())
	keys := make([]uint32, n)
	slots := make([]networkgraphFlowCacheSlot, n)
	var cursor ebpf.MapBatchCursor
	got, err := o.objs.FlowCache.BatchLookup(&cursor, keys, slots, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("read the network-graph flow cache: %w", err)
	}
	for i := range got {
		if slots[i].Valid == 0 || !freed[slots[i].EdgeId] {
			continue
		}
		slots[i].Valid = 0
		if err := o.objs.FlowCache.Update(keys[i], &slots[i], ebpf.UpdateExist); err != nil {
			return fmt.Errorf("invalidate a network-graph flow-cache slot: %w", err)
		}
	}
	return nil
}

// Stats returns the kernel-side counters, summed over CPUs and cumulative
// since Load.
func (o *Objects) Stats() ([NumStats]uint64, error) {
	var out [NumStats]uint64
	for i := range out {
		var perCPU []uint64
		if err := o.objs.Stats.Lookup(Stat(i), &perCPU); err != nil {
			return out, fmt.Errorf("read network-graph stats: %w", err)
		}
		for _, n := range perCPU {
			out[i] += n
		}
	}
	return out, nil
}

// Close releases the programs and maps.
func (o *Objects) Close() error {
	if o.iter != nil {
		o.iter.Close()
	}
	return o.objs.Close()
}

// The oldest Linux the program loads on: it is compiled for BPF ISA v3 and
// takes fresh edge ids with an atomic fetch-and-add (5.12).
const (
	minKernelMajor = 5
	minKernelMinor = 12
)

// kernelRelease is the running kernel's release, e.g. "6.18.44-fc-v782";
// "" when uname fails.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// olderThan reports whether kernel release rel is older than major.minor;
// false when rel does not start with a version it can read.
func olderThan(rel string, major, minor int) bool {
	var relMajor, relMinor int
	if n, _ := fmt.Sscanf(rel, "%d.%d", &relMajor, &relMinor); n != 2 {
		return false
	}
	return relMajor < major || (relMajor == major && relMinor < minor)
}
