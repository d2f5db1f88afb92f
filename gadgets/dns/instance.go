package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	dnsbpf "github.com/gadgetkit/gadget/bpf/dns"
	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/packetsock"
	"github.com/gadgetkit/gadget/gadgets/dns/spec"
	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

// pollInterval bounds how long the reader waits for the ring buffer
// before it looks at the clock and at Stop.
const pollInterval = 100 * time.Millisecond

// attachment is one watched network namespace: the packet socket with its
// capture program.
type attachment struct {
	target gadget.Target
	tag    uint32
	sock   *os.File
}

// instance is a running dns trace.
type instance struct {
	cfg  gadget.Config
	opts spec.Options
	log  *slog.Logger

	mu       sync.Mutex
	objs     *dnsbpf.Objects
	reader   *ringbuf.Reader
	started  bool
	stopped  bool
	nextTag  uint32
	byID     map[string]*attachment
	byTag    map[uint32]*attachment
	pending  gadget.PendingTargets
	tracker  *tracker
	kstats   [dnsbpf.NumStats]uint64
	reported trackerStats
	cancel   context.CancelFunc
	done     chan struct{}
}

var _ gadget.Relabeler = (*instance)(nil)

func newInstance(cfg gadget.Config) (*instance, error) {
	opts, err := spec.ParseParameters(cfg.Parameters)
	if err != nil {
		return nil, err
	}
	if cfg.Emit == nil {
		return nil, errors.New("dns: Config.Emit is nil")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &instance{
		cfg:     cfg,
		opts:    opts,
		log:     log,
		byID:    map[string]*attachment{},
		byTag:   map[uint32]*attachment{},
		tracker: newTracker(opts.Timeout, opts.MaxPending, monoToWall),
	}
	if cfg.Names != nil {
		in.tracker.onAnswer = in.recordNamesLocked
	}
	return in, nil
}

// recordNamesLocked records in Config.Names the addresses a watched pod
// resolved: the queried name (not the last CNAME of the chain) for every
// A and AAAA answer, valid for the shortest TTL of the answers.
func (in *instance) recordNamesLocked(tag uint32, ev *types.Event, mono int64) {
	a, ok := in.byTag[tag]
	if !ok || ev.RCode != "NOERROR" || ev.Name == "" {
		return
	}
	var ttl uint32
	for i, ans := range ev.Answers {
		if i == 0 || ans.TTL < ttl {
			ttl = ans.TTL
		}
	}
	at := monoToWall(mono)
	for _, ans := range ev.Answers {
		if ans.Type != "A" && ans.Type != "AAAA" {
			continue
		}
		addr, err := netip.ParseAddr(ans.Data)
		if err != nil {
			continue
		}
		in.cfg.Names.Observe(a.target.ID, ev.Name, addr, time.Duration(ttl)*time.Second, at)
	}
}

// Start creates the ring buffer, attaches the targets added so far and
// starts reading the captured packets.
func (in *instance) Start(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.started {
		return nil
	}
	if in.stopped {
		return errors.New("dns: instance already stopped; create a new one")
	}
	objs, err := dnsbpf.Load(dnsbpf.Options{Port: in.opts.Port})
	if err != nil {
		return err
	}
	rd, err := objs.NewReader()
	if err != nil {
		objs.Close()
		return err
	}
	in.objs, in.reader = objs, rd
	in.started = true
	for _, t := range in.pending.Take() {
		if err := in.attachLocked(ctx, t); err != nil {
			in.closeLocked()
			return err
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancel
	in.done = make(chan struct{})
	go func() {
		defer close(in.done)
		in.readLoop(rctx, rd)
	}()
	in.log.Info("dns started", "port", in.opts.Port, "interval", in.opts.Interval, "timeout", in.opts.Timeout)
	return nil
}

// readLoop reads the ring buffer until ctx is cancelled, delivering a
// batch every interval; then it reads what is left and delivers the last
// batch, with every query still waiting reported as unanswered.
func (in *instance) readLoop(ctx context.Context, rd *ringbuf.Reader) {
	var rec ringbuf.Record
	var r dnsbpf.Record
	next := time.Now().Add(in.opts.Interval)
	stopping := false
	for {
		if !stopping && ctx.Err() != nil {
			// Stop has closed the sockets: what is in the ring is all
			// there will be.
			stopping = true
			rd.SetDeadline(time.Now())
		}
		if !stopping {
			deadline := time.Now().Add(pollInterval)
			if next.Before(deadline) {
				deadline = next
			}
			rd.SetDeadline(deadline)
		}
		err := rd.ReadInto(&rec)
		switch {
		case err == nil:
			in.mu.Lock()
			in.handleLocked(rec.RawSample, &r)
			in.mu.Unlock()
		case errors.Is(err, os.ErrDeadlineExceeded):
			if stopping {
				in.mu.Lock()
				in.tracker.expireTag(0)
				in.flushLocked()
				in.mu.Unlock()
				return
			}
		default:
			in.log.Error("read the dns ring buffer", "error", err)
			return
		}
		if now := time.Now(); !stopping && !now.Before(next) {
			next = now.Add(in.opts.Interval)
			in.mu.Lock()
			in.tracker.expire(monoNow())
			in.flushLocked()
			in.mu.Unlock()
		}
	}
}

// handleLocked decodes one ring buffer record and hands it to the tracker.
func (in *instance) handleLocked(sample []byte, r *dnsbpf.Record) {
	in.tracker.stats.ringRecords++
	if err := dnsbpf.Decode(sample, r); err != nil {
		in.tracker.stats.shortRecords++
		return
	}
	src, dst := dnsbpf.Addrs(r)
	in.tracker.handle(packet{
		tag:     r.Netns,
		mono:    int64(r.Timestamp),
		tcp:     r.Proto == unix.IPPROTO_TCP,
		out:     r.PktType == dnsbpf.PacketOutgoing,
		src:     netip.AddrPortFrom(src, r.Sport),
		dst:     netip.AddrPortFrom(dst, r.Dport),
		payload: dnsbpf.Payload(r),
		cut:     r.OrigLen > r.Len,
	})
}

// flushLocked labels the tracker's events with their pods, adds warnings
// for what was lost since the last batch and emits them as one batch.
func (in *instance) flushLocked() {
	tx := in.tracker.take()
	batch := make([]types.Event, 0, len(tx)+1)
	for _, t := range tx {
		a, ok := in.byTag[t.tag]
		if !ok {
			continue // the namespace was removed; its queries went with it
		}
		ev := t.ev
		node := a.target.Node
		if node == "" {
			node = in.cfg.Node
		}
		ev.Event = eventtypes.Event{Type: eventtypes.NORMAL, Node: node, Namespace: a.target.Namespace,
			Pod: a.target.Pod, Container: a.target.Container}
		batch = append(batch, ev)
	}
	if warn := in.warningLocked(); warn != nil {
		batch = append(batch, *warn)
	}
	if len(batch) > 0 {
		in.cfg.Emit(batch)
	}
}

// warningLocked turns what was lost since the last batch into one warn
// event and a log line.
func (in *instance) warningLocked() *types.Event {
	var lost [dnsbpf.NumStats]uint64
	if in.objs != nil {
		now, err := in.objs.Stats()
		if err != nil {
			in.log.Warn("read dns stats", "error", err)
		} else {
			for i := range now {
				lost[i] = now[i] - in.kstats[i]
			}
			in.kstats = now
		}
	}
	cur, prev := in.tracker.stats, in.reported
	in.reported = cur
	malformed := cur.malformed - prev.malformed
	short := cur.shortRecords - prev.shortRecords
	full := cur.pendingFull - prev.pendingFull
	ring, load := lost[dnsbpf.StatRingFull], lost[dnsbpf.StatLoadFailed]
	if malformed == 0 && short == 0 && full == 0 && ring == 0 && load == 0 {
		return nil
	}
	msg := fmt.Sprintf("dns: %d packets not parsed as DNS (malformed or truncated), %d lost in the kernel (ring buffer full), %d unreadable, %d queries not tracked (max-pending=%d; raise it)",
		malformed, ring, load+short, full, in.opts.MaxPending)
	in.log.Warn("dns packets lost", "malformed", malformed, "ring_full", ring, "unreadable", load+short, "pending_full", full)
	return &types.Event{Event: eventtypes.Warn(in.cfg.Node, msg)}
}

// AddTarget starts capturing the DNS packets of the target's namespace.
func (in *instance) AddTarget(ctx context.Context, t gadget.Target) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, dup := in.byID[t.ID]; dup {
		return nil
	}
	if in.stopped {
		return fmt.Errorf("dns: add target %s: instance stopped", t.ID)
	}
	if !in.started {
		in.pending.Add(t)
		return nil
	}
	return in.attachLocked(ctx, t)
}

func (in *instance) attachLocked(ctx context.Context, t gadget.Target) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attach %s: %w", t.NetnsPath, err)
	}
	if t.ID == "" || t.NetnsPath == "" {
		return fmt.Errorf("dns: target %+v: ID and NetnsPath are required", t)
	}
	in.nextTag++
	a := &attachment{target: t, tag: in.nextTag}
	prog, err := in.objs.Program(a.tag)
	if err != nil {
		return err
	}
	defer prog.Close()
	err = containers.InNetns(t.NetnsPath, func() (err error) {
		a.sock, err = packetsock.New("dns:" + t.ID)
		return err
	})
	if err == nil {
		err = packetsock.Attach(a.sock, prog.FD())
	}
	if err != nil {
		if a.sock != nil {
			a.sock.Close()
		}
		return fmt.Errorf("dns: attach to %s (%s): %w", t.Pod, t.NetnsPath, err)
	}
	in.byID[t.ID] = a
	in.byTag[a.tag] = a
	in.log.Debug("attached", "netns", t.NetnsPath, "pod", t.Pod, "tag", a.tag)
	return nil
}

// RemoveTarget stops capturing in the target's namespace; its queries
// still waiting are reported as unanswered in the next batch.
func (in *instance) RemoveTarget(_ context.Context, id string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	a, ok := in.byID[id]
	if !ok {
		in.pending.Remove(id)
		return nil
	}
	err := a.sock.Close()
	in.tracker.expireTag(a.tag)
	in.flushLocked()
	delete(in.byID, id)
	delete(in.byTag, a.tag)
	in.log.Debug("detached", "netns", a.target.NetnsPath, "pod", a.target.Pod)
	if err != nil {
		return fmt.Errorf("dns: detach %s: %w", a.target.NetnsPath, err)
	}
	return nil
}

// RelabelTarget gives a watched namespace new labels (gadget.Relabeler).
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

// Stop closes the sockets, delivers the last batch (queries still waiting
// reported as unanswered) and releases the ring buffer.
func (in *instance) Stop(ctx context.Context) error {
	in.mu.Lock()
	if in.stopped || !in.started {
		in.stopped = true
		in.mu.Unlock()
		return nil
	}
	in.stopped = true
	socks := make([]*attachment, 0, len(in.byID))
	for _, a := range in.byID {
		socks = append(socks, a)
	}
	cancel, done := in.cancel, in.done
	in.mu.Unlock()

	// Closing a packet socket waits for an RCU grace period (about 16 ms):
	// hundreds of them are closed at once, not one after the other.
	errs := make([]error, len(socks))
	var wg sync.WaitGroup
	for i, a := range socks {
		wg.Go(func() {
			if err := a.sock.Close(); err != nil {
				errs[i] = fmt.Errorf("close the socket of %s: %w", a.target.NetnsPath, err)
			}
		})
	}
	wg.Wait()

	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop dns: %w", ctx.Err())
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.byID = map[string]*attachment{} // their sockets are closed
	in.byTag = map[uint32]*attachment{}
	in.closeLocked()
	in.log.Info("dns stopped")
	return errors.Join(errs...)
}

// closeLocked releases the ring buffer and the maps, and the sockets of a
// Start that failed.
func (in *instance) closeLocked() {
	for _, a := range in.byID {
		a.sock.Close()
	}
	if in.reader != nil {
		in.reader.Close()
		in.reader = nil
	}
	if in.objs != nil {
		in.objs.Close()
		in.objs = nil
	}
}

// monoNow is CLOCK_MONOTONIC in ns, the clock of the kernel's timestamps.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// monoToWall converts a CLOCK_MONOTONIC time in ns into wall-clock time.
func monoToWall(mono int64) time.Time {
	now, m := time.Now(), monoNow()
	return now.Add(-time.Duration(m - mono)).UTC()
}
