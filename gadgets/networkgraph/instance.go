package networkgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// Parameters network-graph accepts in gadget.Config.Parameters.
const (
	// ParamInterval is how often the kernel counters are drained into a
	// batch, as a Go duration (default 2s, at least 100ms).
	ParamInterval = "interval"
	// ParamMaxEdges bounds the edges recorded at once (default 16384). The
	// edges' counters take 32 bytes of kernel memory per CPU each, all
	// allocated when the trace starts (the default: 512 KiB per CPU).
	ParamMaxEdges = "max-edges"
	// ParamAttach is how the kernel program sees a namespace's packets:
	// "tcx" (the default) at TCX ingress and egress of each of its
	// interfaces (loopback at egress only, counting both ends), or
	// "packet" through a packet socket (kernels 5.12 to 6.5;
	// the packet tap costs a clone per transmitted packet). With tcx, a
	// kernel without TCX falls back to packet, with a log line.
	ParamAttach = "attach"
)

// Values of ParamAttach.
const (
	AttachTCX    = "tcx"
	AttachPacket = "packet"
)

const (
	defaultInterval = 2 * time.Second
	minInterval     = 100 * time.Millisecond
)

type options struct {
	interval time.Duration
	maxEdges uint32
	attach   string
}

// parseParameters validates the trace parameters; errors name the
// parameter and the fix.
// maxMaxEdges bounds ParamMaxEdges: its counters are allocated when the
// trace starts, 32 bytes per edge and CPU (1 Mi edges: 32 MiB per CPU).
const maxMaxEdges = 1 << 20

func parseParameters(params map[string]string) (options, error) {
	opts := options{interval: defaultInterval, maxEdges: ngbpf.DefaultMaxEdges, attach: AttachTCX}
	for k, v := range params {
		switch k {
		case ParamInterval:
			d, err := time.ParseDuration(v)
			if err != nil || d < minInterval {
				return opts, fmt.Errorf("parameter %s=%q: want a duration of at least %v, e.g. 2s", k, v, minInterval)
			}
			opts.interval = d
		case ParamMaxEdges:
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 || n > maxMaxEdges {
				return opts, fmt.Errorf("parameter %s=%q: want a whole number from 1 to %d, e.g. 16384 (the counters take 32 bytes of kernel memory per edge and CPU, allocated at start)", k, v, maxMaxEdges)
			}
			opts.maxEdges = uint32(n)
		case ParamAttach:
			if v != AttachTCX && v != AttachPacket {
				return opts, fmt.Errorf("parameter %s=%q: want %s or %s", k, v, AttachTCX, AttachPacket)
			}
			opts.attach = v
		default:
			return opts, fmt.Errorf("parameter %q: unknown to network-graph; known: %s, %s, %s", k, ParamInterval, ParamMaxEdges, ParamAttach)
		}
	}
	return opts, nil
}

// attachment is one watched network namespace: the TCX links (or the
// packet socket) carrying its tag programs, and what its edges are tagged
// with.
type attachment struct {
	target gadget.Target
	tag    uint32
	sock   *os.File     // attach=packet
	links  []link.Link  // attach=tcx: the TCX hooks of each interface (tcHooks)
	addrs  []netip.Addr // the namespace's own addresses, for local enrichment
	// attach=tcx: the interfaces hooked, by index, and the netlink socket
	// reporting new ones.
	hooked     map[int]bool
	linkEvents *os.File
}

// closers returns what keeps a attached.
func (a *attachment) closers() []io.Closer {
	out := make([]io.Closer, 0, len(a.links)+1)
	if a.sock != nil {
		out = append(out, a.sock)
	}
	if a.linkEvents != nil {
		out = append(out, a.linkEvents)
	}
	for _, l := range a.links {
		out = append(out, l)
	}
	return out
}

// instance is a running network-graph trace.
// The instance takes new labels for a namespace without detaching.
var _ gadget.Relabeler = (*instance)(nil)

type instance struct {
	cfg  gadget.Config
	opts options
	log  *slog.Logger

	mu      sync.Mutex
	objs    *ngbpf.Objects
	started bool
	stopped bool
	nextTag uint32
	byID    map[string]*attachment
	byTag   map[uint32]*attachment
	// closing are the tags of detached namespaces whose hooks are being
	// closed: their edges are deleted (and their ids reused) only after.
	closing  map[uint32]bool
	pending  []gadget.Target
	last     map[ngbpf.EdgeKey]ngbpf.EdgeValue
	stats    [ngbpf.NumStats]uint64
	cancel   context.CancelFunc
	drainErr chan error
	// watchers are the goroutines following new interfaces (attach=tcx),
	// and linkBufs the buffers they read netlink messages into (*[]byte).
	watchers sync.WaitGroup
	linkBufs sync.Pool
	// linkRcvBuf, when set, is the receive buffer of the netlink sockets
	// reporting new interfaces (tests shrink it to make them overrun).
	linkRcvBuf int
}

func newInstance(cfg gadget.Config) (*instance, error) {
	opts, err := parseParameters(cfg.Parameters)
	if err != nil {
		return nil, err
	}
	if cfg.Emit == nil {
		return nil, fmt.Errorf("network-graph: Config.Emit is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = gadget.NoMetrics{}
	}
	in := &instance{
		cfg:     cfg,
		opts:    opts,
		log:     log,
		byID:    map[string]*attachment{},
		byTag:   map[uint32]*attachment{},
		closing: map[uint32]bool{},
		last:    map[ngbpf.EdgeKey]ngbpf.EdgeValue{},
	}
	in.linkBufs.New = func() any {
		b := make([]byte, 16<<10)
		return &b
	}
	return in, nil
}

// Start loads the eBPF program, attaches the targets added so far and
// starts draining the kernel map every interval.
func (in *instance) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.started {
		return nil
	}
	if in.stopped {
		return fmt.Errorf("network-graph: instance already stopped; create a new one")
	}
	objs, err := ngbpf.Load(ngbpf.Options{MaxEdges: in.opts.maxEdges})
	if err != nil {
		return err
	}
	in.objs = objs
	in.started = true
	in.cfg.Metrics.Set(metricMapCapacity, float64(in.opts.maxEdges))
	pending := in.pending
	in.pending = nil
	for _, t := range pending {
		if err := in.attachLocked(ctx, t); err != nil {
			in.closeLocked()
			return err
		}
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancel
	in.drainErr = make(chan error, 1)
	go func() { in.drainErr <- in.drainLoop(dctx) }()
	in.log.Info("network-graph started", "interval", in.opts.interval, "max_edges", in.opts.maxEdges)
	return nil
}

func (in *instance) drainLoop(ctx context.Context) error {
	tick := time.NewTicker(in.opts.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			in.mu.Lock()
			err := in.collectLocked(nil)
			in.mu.Unlock()
			if err != nil {
				in.log.Error("drain network-graph edges", "error", err)
			}
		}
	}
}

// AddTarget attaches to the target's network namespace.
func (in *instance) AddTarget(ctx context.Context, t gadget.Target) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, dup := in.byID[t.ID]; dup {
		return nil
	}
	if in.stopped {
		return fmt.Errorf("network-graph: add target %s: instance stopped", t.ID)
	}
	if !in.started {
		for _, p := range in.pending {
			if p.ID == t.ID {
				return nil
			}
		}
		in.pending = append(in.pending, t)
		return nil
	}
	return in.attachLocked(ctx, t)
}

func (in *instance) attachLocked(ctx context.Context, t gadget.Target) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attach %s: %w", t.NetnsPath, err)
	}
	if t.ID == "" || t.NetnsPath == "" {
		return fmt.Errorf("network-graph: target %+v: ID and NetnsPath are required", t)
	}
	in.nextTag++
	tag := in.nextTag
	a := &attachment{target: t, tag: tag}
	var err error
	if in.opts.attach == AttachTCX {
		err = in.attachTCX(a)
		if errors.Is(err, ebpf.ErrNotSupported) {
			in.log.Warn("TCX not supported by this kernel: attaching through a packet socket instead", "netns", t.NetnsPath)
			in.opts.attach = AttachPacket
		}
	}
	if in.opts.attach == AttachPacket {
		err = in.attachPacket(a)
	}
	if err != nil {
		closeConcurrently(a.closers())
		return fmt.Errorf("attach to %s (%s): %w", t.Pod, t.NetnsPath, err)
	}
	in.byID[t.ID] = a
	in.byTag[tag] = a
	in.log.Debug("attached", "netns", t.NetnsPath, "pod", t.Pod, "tag", tag, "mode", in.opts.attach)
	return nil
}

// attachTCX attaches a tag program at TCX ingress and egress of every
// interface of a's namespace (see hookInterfacesLocked), and follows the
// interfaces created in it later (RTM_NEWLINK) to hook them too.
func (in *instance) attachTCX(a *attachment) error {
	a.hooked = map[int]bool{}
	// Subscribe before listing, so no interface falls in between.
	err := containers.InNetns(a.target.NetnsPath, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("open netlink socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("subscribe to interface changes: %w", err)
		}
		if in.linkRcvBuf > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, in.linkRcvBuf); err != nil {
				unix.Close(fd)
				return fmt.Errorf("size the interface changes' buffer: %w", err)
			}
		}
		a.linkEvents = os.NewFile(uintptr(fd), "network-graph-links:"+a.target.ID)
		a.addrs = localAddrs()
		return nil
	})
	if err != nil {
		return err
	}
	if err := in.hookInterfacesLocked(a); err != nil {
		return err
	}
	in.watchers.Add(1)
	go in.followInterfaces(a)
	return nil
}

// followInterfaces hooks the interfaces created in a's namespace while it
// is attached; it ends when a's netlink socket is closed. It waits for the
// socket without a buffer of its own (RawConn.Read calls back once it is
// readable) and reads into a pooled one: hundreds of namespaces wait at
// once, and a buffer each would be most of their memory.
func (in *instance) followInterfaces(a *attachment) {
	defer in.watchers.Done()
	rc, err := a.linkEvents.SyscallConn()
	if err != nil {
		in.log.Warn("follow new interfaces", "netns", a.target.NetnsPath, "error", err)
		return
	}
	for {
		var newLink bool
		var readErr error
		err := rc.Read(func(fd uintptr) bool {
			bp := in.linkBufs.Get().(*[]byte)
			defer in.linkBufs.Put(bp)
			n, _, err := unix.Recvfrom(int(fd), *bp, unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // not readable after all: wait again
			case errors.Is(err, unix.ENOBUFS):
				// The kernel dropped events (the socket overran): look
				// at every interface again.
				newLink = true
			case err != nil:
				readErr = err
			default:
				msgs, err := syscall.ParseNetlinkMessage((*bp)[:n])
				newLink = err == nil && slices.ContainsFunc(msgs, func(m syscall.NetlinkMessage) bool { return m.Header.Type == unix.RTM_NEWLINK })
			}
			return true
		})
		if err != nil || readErr != nil {
			return // closed: detached or stopped
		}
		if !newLink {
			continue
		}
		in.mu.Lock()
		if in.byID[a.target.ID] == a && in.objs != nil {
			if err := in.hookInterfacesLocked(a); err != nil {
				in.log.Warn("hook a new interface", "netns", a.target.NetnsPath, "pod", a.target.Pod, "error", err)
			}
		}
		in.mu.Unlock()
	}
}

// hookInterfacesLocked attaches a's tag programs at TCX ingress and egress
// of the interfaces of its namespace not hooked yet; loopback only at
// egress, where one run counts a packet for both ends (ngbpf.HookLoopback):
// each TCX attachment waits for an RCU grace period, so that is one wait
// less per namespace.
func (in *instance) hookInterfacesLocked(a *attachment) error {
	progs := map[tcHook]*ebpf.Program{}
	defer func() {
		for _, p := range progs {
			p.Close()
		}
	}()
	prog := func(k tcHook) (*ebpf.Program, error) {
		if p, ok := progs[k]; ok {
			return p, nil
		}
		p, err := in.objs.TCTagProgram(a.tag, k.l3, k.hook)
		if err != nil {
			return nil, err
		}
		progs[k] = p
		return p, nil
	}
	return containers.InNetns(a.target.NetnsPath, func() error {
		ifaces, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("list interfaces: %w", err)
		}
		for _, ifi := range ifaces {
			if a.hooked[ifi.Index] {
				continue
			}
			for _, h := range tcHooks(ifi) {
				p, err := prog(h)
				if err != nil {
					return err
				}
				l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: p, Attach: h.attach})
				if err != nil {
					return fmt.Errorf("attach TCX to %s: %w", ifi.Name, err)
				}
				a.links = append(a.links, l)
			}
			a.hooked[ifi.Index] = true
			a.addrs = localAddrs()
		}
		return nil
	})
}

// tcHook is one TCX attachment of a tag program.
type tcHook struct {
	attach ebpf.AttachType
	hook   ngbpf.Hook
	l3     uint32 // link-layer header length
}

// tcHooks lists the attachments an interface takes: ingress and egress,
// or egress alone for loopback.
func tcHooks(ifi net.Interface) []tcHook {
	// Ethernet-like devices (and loopback) carry a 14-byte link-layer
	// header; L3 devices (tun, wireguard) none.
	l3 := uint32(0)
	if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) == 6 {
		l3 = 14
	}
	if ifi.Flags&net.FlagLoopback != 0 {
		return []tcHook{{ebpf.AttachTCXEgress, ngbpf.HookLoopback, l3}}
	}
	return []tcHook{
		{ebpf.AttachTCXIngress, ngbpf.HookIngress, l3},
		{ebpf.AttachTCXEgress, ngbpf.HookEgress, l3},
	}
}

// attachPacket opens a packet socket in a's namespace with a tag program
// as its filter.
func (in *instance) attachPacket(a *attachment) error {
	prog, err := in.objs.TagProgram(a.tag)
	if err != nil {
		return err
	}
	defer prog.Close()
	err = containers.InNetns(a.target.NetnsPath, func() error {
		// Protocol 0: the socket receives nothing until the filter is on.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open packet socket: %w", err)
		}
		a.sock = os.NewFile(uintptr(fd), "network-graph:"+a.target.ID)
		a.addrs = localAddrs()
		return nil
	})
	if err != nil {
		return err
	}
	return attachFilter(int(a.sock.Fd()), prog.FD())
}

// attachFilter attaches the program, keeps the receive queue minimal (the
// filter never accepts a packet) and only then binds to every protocol.
func attachFilter(fd, progFD int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, progFD); err != nil {
		return fmt.Errorf("attach socket filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 0); err != nil {
		return fmt.Errorf("shrink socket buffer: %w", err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind packet socket: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// localAddrs lists the addresses of the current network namespace.
func localAddrs() []netip.Addr {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// RemoveTarget delivers what the namespace saw and detaches from it.
func (in *instance) RemoveTarget(ctx context.Context, id string) error {
	in.mu.Lock()
	a, ok := in.byID[id]
	if !ok {
		for i, p := range in.pending {
			if p.ID == id {
				in.pending = append(in.pending[:i], in.pending[i+1:]...)
				break
			}
		}
		in.mu.Unlock()
		return nil
	}
	err := in.collectLocked(map[uint32]bool{a.tag: true})
	in.detachLocked(a)
	in.mu.Unlock()
	// Closing a packet socket waits for the kernel's RCU grace period
	// (about 16 ms here): not under the lock, which the drain loop and the
	// other targets need.
	closeConcurrently(a.closers())
	in.mu.Lock()
	if derr := in.forgetLocked(a.tag); derr != nil {
		in.log.Warn("forget edges of detached namespace", "netns", a.target.NetnsPath, "error", derr)
	}
	in.mu.Unlock()
	return err
}

// RelabelTarget gives a watched namespace new labels (gadget.Relabeler):
// the same namespace under another Pod or NetnsPath, e.g. found first
// through the `ip netns add` process that created it, then by its name.
// Its hooks stay attached; its edges carry the new labels from the next
// batch on, and a new interface is looked up through the new NetnsPath.
func (in *instance) RelabelTarget(_ context.Context, t gadget.Target) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if a, ok := in.byID[t.ID]; ok {
		a.target = t
		return nil
	}
	for i, p := range in.pending {
		if p.ID == t.ID {
			in.pending[i] = t
		}
	}
	return nil
}

// detachLocked forgets a; the caller closes its hooks and then calls
// forgetLocked.
func (in *instance) detachLocked(a *attachment) {
	delete(in.byID, a.target.ID)
	delete(in.byTag, a.tag)
	in.closing[a.tag] = true
	in.log.Debug("detached", "netns", a.target.NetnsPath, "pod", a.target.Pod)
}

// forgetLocked deletes the edges of the namespace tag, whose hooks are
// closed: no packet reaches their counters any more, so the kernel may
// reuse their ids (ngbpf.Objects.DeleteEdges).
func (in *instance) forgetLocked(tag uint32) error {
	delete(in.closing, tag)
	var gone []ngbpf.EdgeKey
	for k := range in.last {
		if k.Netns == tag {
			gone = append(gone, k)
			delete(in.last, k)
		}
	}
	if in.objs == nil {
		return nil // stopped meanwhile: the maps are gone
	}
	return in.objs.DeleteEdges(gone)
}

// Stop stops draining, delivers the final batch and closes every socket,
// program and map.
func (in *instance) Stop(ctx context.Context) error {
	in.mu.Lock()
	if in.stopped || !in.started {
		in.stopped = true
		in.mu.Unlock()
		return nil
	}
	in.stopped = true
	cancel, drainErr := in.cancel, in.drainErr
	in.mu.Unlock()

	cancel()
	select {
	case <-drainErr:
	case <-ctx.Done():
		return fmt.Errorf("stop network-graph: %w", ctx.Err())
	}

	in.mu.Lock()
	defer in.mu.Unlock()
	err := in.collectLocked(nil)
	if n := in.stats[ngbpf.StatTCPUntracked]; n > 0 {
		// Said once, at the end: long-lived connections would repeat it
		// every interval.
		in.cfg.Emit([]types.Event{{Event: eventtypes.Warn(in.cfg.Node, fmt.Sprintf(
			"network-graph: %d TCP packets belonged to connections opened before the trace attached and were not recorded", n))}})
	}
	in.closeLocked()
	in.mu.Unlock()
	in.watchers.Wait() // their sockets are closed: they end now
	in.mu.Lock()
	in.log.Info("network-graph stopped")
	return err
}

func (in *instance) closeLocked() {
	var closers []io.Closer
	for _, a := range in.byID {
		closers = append(closers, a.closers()...)
	}
	closeConcurrently(closers)
	in.byID = map[string]*attachment{}
	in.byTag = map[uint32]*attachment{}
	if in.objs != nil {
		in.objs.Close()
		in.objs = nil
	}
}

// closeConcurrently closes sockets and links, many at a time: closing a
// packet socket waits for an RCU grace period (about 16 ms), so closing
// hundreds one by one would take seconds, while their waits overlap.
func closeConcurrently(files []io.Closer) {
	const parallel = 1024
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, f := range files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f.Close()
		})
	}
	wg.Wait()
}

// collectLocked reads the kernel map and emits the edges whose counters
// moved since the last read, with the increase as their counters. When
// only is set, just those namespace tags are read.
func (in *instance) collectLocked(only map[uint32]bool) error {
	if in.objs == nil {
		return nil
	}
	clock := newClock()
	var batch []types.Event
	var stale []ngbpf.EdgeKey
	entries := 0
	err := in.objs.Edges(func(k ngbpf.EdgeKey, v ngbpf.EdgeValue) {
		entries++
		if only != nil && !only[k.Netns] {
			return
		}
		a, ok := in.byTag[k.Netns]
		if !ok {
			// Counted after the namespace's last read, before its hooks
			// were closed; not while they are still closing.
			if !in.closing[k.Netns] {
				stale = append(stale, k)
			}
			return
		}
		prev := in.last[k]
		if v.Packets == prev.Packets && v.Bytes == prev.Bytes {
			return
		}
		in.last[k] = v
		batch = append(batch, in.edgeEvent(a, k, v, prev, clock))
	})
	if len(stale) > 0 {
		if derr := in.objs.DeleteEdges(stale); derr != nil && err == nil {
			err = derr
		}
	}
	if only == nil && err == nil {
		in.cfg.Metrics.Set(metricMapEdges, float64(entries-len(stale)))
	}
	countTraffic(in.cfg.Metrics, batch)
	if warn := in.statsWarning(); warn != nil {
		batch = append(batch, *warn)
	}
	if len(batch) > 0 {
		in.cfg.Emit(batch)
	}
	return err
}

// statsWarning turns new kernel-side drops into a warn event and a log.
func (in *instance) statsWarning() *types.Event {
	now, err := in.objs.Stats()
	if err != nil {
		in.log.Warn("read network-graph stats", "error", err)
		return nil
	}
	prev := in.stats
	in.stats = now
	dropped := now[ngbpf.StatEdgesDropped] - prev[ngbpf.StatEdgesDropped]
	flows := now[ngbpf.StatFlowsDropped] - prev[ngbpf.StatFlowsDropped]
	untracked := now[ngbpf.StatTCPUntracked] - prev[ngbpf.StatTCPUntracked]
	in.cfg.Metrics.Add(metricPacketsNotRecorded, float64(dropped))
	in.cfg.Metrics.Add(metricFlowsNotRemembered, float64(flows))
	if untracked > 0 {
		in.log.Debug("TCP packets of connections opened before attaching were not counted", "packets", untracked)
	}
	if dropped == 0 && flows == 0 {
		return nil
	}
	msg := fmt.Sprintf("network-graph: %d packets not recorded because the edge map is full (max-edges=%d; raise it), %d flows not remembered",
		dropped, in.opts.maxEdges, flows)
	in.log.Warn("edges dropped", "packets", dropped, "flows", flows, "max_edges", in.opts.maxEdges)
	return &types.Event{Event: eventtypes.Warn(in.cfg.Node, msg)}
}

func (in *instance) edgeEvent(a *attachment, k ngbpf.EdgeKey, v, prev ngbpf.EdgeValue, c clock) types.Event {
	t := a.target
	node := t.Node
	if node == "" {
		node = in.cfg.Node
	}
	e := types.Event{
		Event: eventtypes.Event{
			Type:      eventtypes.NORMAL,
			Node:      node,
			Namespace: t.Namespace,
			Pod:       t.Pod,
			Container: t.Container,
		},
		Proto:     protoName(k.Proto),
		Port:      int(k.Port),
		Packets:   v.Packets - prev.Packets,
		Bytes:     v.Bytes - prev.Bytes,
		FirstSeen: c.wall(v.FirstSeen),
		LastSeen:  c.wall(v.LastSeen),
	}
	if k.PktType == ngbpf.PacketOutgoing {
		e.PktType = types.PktTypeOutgoing
	} else {
		e.PktType = types.PktTypeHost
	}
	ip := edgeAddr(k)
	e.IP = ip.String()
	in.enrichLocal(&e, a, ip)
	if in.cfg.Names != nil {
		if name, stale, ok := in.cfg.Names.Lookup(t.ID, ip, c.now); ok {
			e.RemoteName, e.RemoteNameStale = name, stale
		}
	}
	return e
}

func edgeAddr(k ngbpf.EdgeKey) netip.Addr {
	if k.Family == 4 {
		return netip.AddrFrom4([4]byte(k.Addr[:4]))
	}
	return netip.AddrFrom16(k.Addr)
}

func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// clock converts kernel monotonic nanoseconds into wall-clock times.
type clock struct {
	now  time.Time
	mono int64
}

func newClock() clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{now: time.Now(), mono: ts.Nano()}
}

func (c clock) wall(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return c.now.Add(-time.Duration(c.mono - int64(ns))).UTC()
}
