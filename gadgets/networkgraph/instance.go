package networkgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// The instance takes new labels for a namespace without detaching.
var _ gadget.Relabeler = (*instance)(nil)

// instance is a running network-graph trace.
type instance struct {
	cfg  gadget.Config
	opts spec.Options
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
	closing map[uint32]bool
	// forgotten is signalled when a closing tag is forgotten (or the
	// instance stops): an attachment of the same namespace waits for it.
	forgotten *sync.Cond
	pending   gadget.PendingTargets
	last      map[ngbpf.EdgeKey]ngbpf.EdgeValue
	stats     [ngbpf.NumStats]uint64
	cancel    context.CancelFunc
	drainErr  chan error
	// watchers are the goroutines following new interfaces (attach=tcx),
	// and linkBufs the buffers they read netlink messages into (*[]byte).
	watchers sync.WaitGroup
	linkBufs sync.Pool
	// linkRcvBuf, when set, is the receive buffer of the netlink sockets
	// reporting new interfaces (tests shrink it to make them overrun).
	linkRcvBuf int
	// kernelBTF is the gadget's kernel BTF, shared by its running traces
	// (nil: decoded for this trace alone).
	kernelBTF *kernelBTF
	// tailCalls loads the tail-call variant where the tag-free programs
	// would load (tests: ngbpf.Options.TailCalls).
	tailCalls bool
	// mode is the attach mode running (spec.Attach*): opts.Attach, or
	// what it fell back to. With socket, opts.Attach is the packet hooks'
	// mode (UDP): tcx, or packet on a kernel without TCX.
	mode string
	// tcpState is the TCP state program's link on the
	// inet_sock_set_state tracepoint (attach=socket).
	tcpState io.Closer
	// modeWarning, when set, is said with the next batch: the trace
	// runs another mode than asked for.
	modeWarning string
}

func newInstance(cfg gadget.Config) (*instance, error) {
	opts, err := spec.ParseParameters(cfg.Parameters)
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
	in.forgotten = sync.NewCond(&in.mu)
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
	objs, err := in.loadLocked()
	if err != nil {
		return err
	}
	in.objs = objs
	if err := objs.TagFreeError(); err != nil {
		// Works, at the cost of a ProgramArray and a tag program per
		// namespace (bpf/networkgraph: Load).
		in.log.Warn("network-graph: this kernel does not run the tag-free programs: using tail calls", "error", err)
	}
	in.started = true
	in.cfg.Metrics.Set(metricMapCapacity, float64(in.opts.MaxEdges))
	in.cfg.Metrics.Set(metricAttachMode, 1, in.mode)
	for _, t := range in.pending.Take() {
		if err := in.attachLocked(ctx, t); err != nil {
			in.closeLocked()
			return err
		}
	}
	in.tcpStateOffIfIdleLocked()
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancel
	in.drainErr = make(chan error, 1)
	go func() { in.drainErr <- in.drainLoop(dctx) }()
	in.log.Info("network-graph started", "interval", in.opts.Interval, "max_edges", in.opts.MaxEdges, "tail_calls", in.objs.TailCalls(), "mode", in.mode)
	return nil
}

// loadLocked loads the programs of the attach mode asked for, and sets
// in.mode to the one that runs: attach=socket falls back to tcx, with a
// log line and a warning (modeWarning), when the kernel refuses its
// programs or their tracepoint.
func (in *instance) loadLocked() (*ngbpf.Objects, error) {
	in.mode = in.opts.Attach
	socket := in.opts.Attach == AttachSocket
	objs, err := in.load(socket)
	if err != nil || !socket {
		return objs, err
	}
	var reason error
	switch {
	case in.tailCalls || objs.TailCalls():
		reason = errors.New("it needs the tag-free programs (Linux 6.2 with BTF)")
	case !objs.Socket():
		reason = objs.SocketError()
	default:
		l, err := objs.AttachTCPState()
		if err == nil {
			in.tcpState = l
			in.opts.Attach = AttachTCX // UDP
			return objs, nil
		}
		reason = err
	}
	// Its packet programs let TCP by: load them again, counting TCP.
	in.closeObjs(objs)
	in.mode, in.opts.Attach = AttachTCX, AttachTCX
	in.modeWarning = fmt.Sprintf("network-graph: attach=socket is not available (%v): TCP is counted per packet at TCX (attach=tcx)", reason)
	in.log.Warn("attach=socket not available: falling back to tcx", "error", reason)
	return in.load(false)
}

// tcpStateOnLocked attaches attach=socket's TCP state program to its
// tracepoint, if it is not: before a namespace is watched, so that its
// handshakes are seen. The program runs at every state change of every
// TCP socket of the node, so it stays attached only while a namespace is
// watched (tcpStateOffIfIdleLocked): a trace without targets costs the node's
// TCP nothing.
func (in *instance) tcpStateOnLocked() error {
	if in.tcpState != nil {
		return nil
	}
	l, err := in.objs.AttachTCPState()
	if err != nil {
		return err
	}
	in.tcpState = l
	return nil
}

// tcpStateOffIfIdleLocked detaches the TCP state program, if attached,
// once no namespace is watched. Nothing is lost meanwhile: the closes of
// an unwatched namespace's connections are not counted, and their records
// are stale for a later watch (ngbpf.Objects.UnwatchNetns).
func (in *instance) tcpStateOffIfIdleLocked() {
	if in.tcpState == nil || len(in.byID) > 0 {
		return
	}
	if err := in.tcpState.Close(); err != nil {
		in.log.Warn("detach the TCP state program", "error", err)
	}
	in.tcpState = nil
}

// load loads the programs, with attach=socket's when socket is set.
func (in *instance) load(socket bool) (*ngbpf.Objects, error) {
	opts := ngbpf.Options{MaxEdges: in.opts.MaxEdges, TailCalls: in.tailCalls, Socket: socket && !in.tailCalls}
	if in.kernelBTF != nil {
		opts.KernelBTF = in.kernelBTF.acquire()
	}
	objs, err := ngbpf.Load(opts)
	if err != nil && in.kernelBTF != nil {
		in.kernelBTF.release()
	}
	return objs, err
}

// closeObjs closes objs, loaded by load.
func (in *instance) closeObjs(objs *ngbpf.Objects) {
	objs.Close()
	if in.kernelBTF != nil {
		in.kernelBTF.release()
	}
}

func (in *instance) drainLoop(ctx context.Context) error {
	tick := time.NewTicker(in.opts.Interval)
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
		in.pending.Add(t)
		return nil
	}
	return in.attachLocked(ctx, t)
}

// RemoveTarget delivers what the namespace saw and detaches from it.
func (in *instance) RemoveTarget(ctx context.Context, id string) error {
	in.mu.Lock()
	a, ok := in.byID[id]
	if !ok {
		in.pending.Remove(id)
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
	in.pending.Relabel(t)
	return nil
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
	in.forgotten.Broadcast()
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
	if in.tcpState != nil {
		closers = append(closers, in.tcpState)
		in.tcpState = nil
	}
	closeConcurrently(closers)
	in.byID = map[string]*attachment{}
	in.byTag = map[uint32]*attachment{}
	if in.objs != nil {
		in.closeObjs(in.objs)
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
