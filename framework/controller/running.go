package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/trace"
)

// statusFormat is the output format whose result status.output holds.
const statusFormat = "json"

// pluginStartTimeout bounds starting a trace's plugins (compiling a WASM
// module, starting a go-plugin process).
const pluginStartTimeout = time.Minute

// pluginLog writes the lines plugins report (a failed call, a fallback)
// to the agent's log.
type pluginLog struct{ log *slog.Logger }

func (p *pluginLog) Write(b []byte) (int, error) {
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			p.log.Warn("plugin", "message", line)
		}
	}
	return len(b), nil
}

// running is the agent's side of one Trace: the framework trace, the
// goroutine that follows its targets and what its output mode keeps.
type running struct {
	name       string // namespace/name
	uid        types.UID
	generation int64
	mode       gadget.OutputMode
	info       *gadget.Info
	tr         *trace.Trace
	opts       Options
	log        *slog.Logger

	filter    gadget.Filter
	plugins   PluginOutput
	budget    *nodeBudget
	kmem      uint64 // estimated kernel memory of a run, held in budget while started // Status mode with plugins chosen by spec.parameters
	closeOnce sync.Once

	watchMu sync.Mutex
	watch   *watch // while the trace runs (or starts)

	// mu guards what follows. It comes last in the lock order (trace,
	// gadget instance, mu): never call rt.tr while holding it.
	mu      sync.Mutex
	sink    gadget.Output // Status mode: the json output of the current run
	sinkBuf *cappedBuffer
	sinkErr error
	stream  *streambuf.Ring // Stream mode: the buffer of the current run
	output  string          // Status mode: the bounded result of the last run
	warning string
	// targetWarning is what the target source says of the pods the
	// filter selects but that are not watched, in the current or last run.
	targetWarning string
	opError       string // why the last operation failed, for status.operationError

	ckpt checkpoints
	// resume is set when this agent resumes a trace an earlier agent ran:
	// the next run restores its checkpoint and says what may be missing.
	resume *resumeInfo
	// resumeWarning says, for the current or last run, from when edges may
	// be missing because the agent restarted.
	resumeWarning string
	// ckptErr is why the last checkpoint failed, once; empty when it did
	// not.
	ckptErr string
}

// resumeInfo is what an agent knows when it resumes a trace that was
// Started when the previous agent stopped.
type resumeInfo struct {
	at       time.Time // now
	lastSeen time.Time // the previous agent's last heartbeat; zero if unknown
}

// newRunning creates the (stopped) trace of tr; base is the agent's
// logger. Its errors name the spec field to fix.
func newRunning(opts Options, base *slog.Logger, tr *v1alpha1.Trace, budget *nodeBudget) (*running, error) {
	log := base.With("trace", tr.Namespace+"/"+tr.Name)
	mode := gadget.OutputMode(tr.Spec.OutputMode)
	switch mode {
	case gadget.OutputModeFile, gadget.OutputModeExternalResource:
		return nil, fmt.Errorf("spec.outputMode %s: not supported by the node agent yet: use Status or Stream", mode)
	}
	info, err := opts.Registry.Lookup(tr.Spec.Gadget)
	if err != nil {
		return nil, fmt.Errorf("spec.gadget %q: %w: set spec.gadget to a registered gadget", tr.Spec.Gadget, err)
	}
	if mode == "" {
		mode = info.OutputModes[0]
	}
	if !info.SupportsOutputMode(mode) {
		return nil, fmt.Errorf("spec.outputMode %s: %w: gadget %s supports %v",
			mode, gadget.ErrUnsupportedOutputMode, info.Name, info.OutputModes)
	}
	if mode == gadget.OutputModeStatus && (info.NewOutput == nil || !slices.Contains(info.Formats, statusFormat)) {
		return nil, fmt.Errorf("spec.outputMode Status: gadget %s has no %s output to store: use outputMode Stream",
			info.Name, statusFormat)
	}
	params := maps.Clone(tr.Spec.Parameters)
	var plugins PluginOutput
	if opts.Plugins != nil {
		rest, mk, err := opts.Plugins(info, params)
		if err != nil {
			return nil, fmt.Errorf("spec.parameters: %w", err)
		}
		if mk != nil && mode != gadget.OutputModeStatus {
			return nil, fmt.Errorf("spec.parameters: plugins (formatter, enrichers) apply to outputMode Status only; " +
				"stream readers format on their side (kubectl gadget ... stream -o FORMAT): remove them or use outputMode Status")
		}
		params, plugins = rest, mk
	}
	filter := gadget.Filter{}
	if f := tr.Spec.Filter; f != nil {
		filter = gadget.Filter{Namespace: f.Namespace, Podname: f.Podname, Labels: maps.Clone(f.Labels), ContainerName: f.ContainerName}
	}
	// New must not touch the kernel: creating an instance only checks the
	// parameters, the gadget's own: the framework's (a capability the
	// gadget Uses, e.g. dns-names=true) are checked and removed first, as
	// framework/trace does when it starts the trace.
	own, _, err := info.SplitParameters(params)
	if err != nil {
		return nil, fmt.Errorf("spec.parameters: %w", err)
	}
	if _, err := info.New(gadget.Config{
		Node: opts.Node, Filter: filter, Parameters: own,
		Logger: slog.New(slog.DiscardHandler), Emit: func(any) {},
	}); err != nil {
		return nil, fmt.Errorf("spec.parameters: %w", err)
	}
	kmem, err := trace.KernelMemory(opts.Registry, info, params)
	if err != nil {
		return nil, fmt.Errorf("spec.parameters: %w", err)
	}

	rt := &running{
		budget:     budget,
		kmem:       kmem,
		name:       tr.Namespace + "/" + tr.Name,
		uid:        tr.UID,
		generation: tr.Generation,
		mode:       mode,
		info:       info,
		opts:       opts,
		log:        log,
		filter:     filter,
		plugins:    plugins,
		ckpt:       checkpoints{dir: opts.CheckpointDir, max: opts.MaxCheckpoint},
	}
	rt.tr, err = trace.New(opts.Registry, trace.Config{
		Name:       tr.Namespace + "/" + tr.Name,
		Gadget:     info.Name,
		Node:       opts.Node,
		Filter:     filter,
		Parameters: params,
		OutputMode: mode,
		Logger:     base, // trace.New adds the trace's name
		Emit:       rt.emit,
		Metrics:    opts.Metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}

	return rt, nil
}

// watch is the goroutine that follows the targets of one run.
type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
	sync   *targetSync
	err    error // set before done closes
}

// startWatch follows the targets of the trace from now on, unless it
// already does. It waits for the first set of targets, at most
// Options.FirstTargetsTimeout, so that a start attaches to the pods that
// already run. It fails when the target source rejects the filter.
func (rt *running) startWatch(ctx context.Context) error {
	rt.watchMu.Lock()
	defer rt.watchMu.Unlock()
	if rt.watch != nil {
		return nil
	}
	watchCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &watch{
		cancel: cancel,
		done:   make(chan struct{}),
		sync:   &targetSync{tr: rt.tr, log: rt.log, known: map[string]gadget.Target{}},
	}
	first := make(chan struct{})
	rt.setTargetWarning("")
	go func() {
		defer close(w.done)
		var once sync.Once
		update := func(targets []gadget.Target, warning string) {
			w.sync.apply(watchCtx, targets)
			rt.setTargetWarning(warning)
			once.Do(func() { close(first) })
		}
		var err error
		if ws, ok := rt.opts.Targets.(WarningTargetSource); ok {
			err = ws.WatchWithWarning(watchCtx, rt.filter, update)
		} else {
			err = rt.opts.Targets.Watch(watchCtx, rt.filter, func(targets []gadget.Target) { update(targets, "") })
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			w.err = err
			rt.log.Error("target source stopped; the trace keeps its current targets", "err", err)
		}
	}()
	rt.watch = w
	timer := time.NewTimer(rt.opts.FirstTargetsTimeout)
	defer timer.Stop()
	select {
	case <-first:
	case <-w.done:
		if w.err != nil {
			rt.stopWatchLocked()
			return fmt.Errorf("watch the pods of spec.filter: %w", w.err)
		}
	case <-timer.C:
		rt.log.Warn("no target set reported yet; going on without targets", "waited", rt.opts.FirstTargetsTimeout)
	case <-ctx.Done():
		rt.stopWatchLocked()
		return fmt.Errorf("wait for the targets: %w", ctx.Err())
	}
	return nil
}

// stopWatch stops following targets and makes the trace forget the ones it
// was given, so that the next run starts from the targets of its time.
func (rt *running) stopWatch() {
	rt.watchMu.Lock()
	defer rt.watchMu.Unlock()
	rt.stopWatchLocked()
}

func (rt *running) stopWatchLocked() {
	w := rt.watch
	if w == nil {
		return
	}
	rt.watch = nil
	w.cancel()
	<-w.done
	for id := range w.sync.known {
		if err := rt.tr.RemoveTarget(context.Background(), id); err != nil {
			rt.log.Warn("remove target", "target", id, "err", err)
		}
	}
}

// setResume says that the next run resumes the trace after an agent
// restart (nil: it does not).
func (rt *running) setResume(r *resumeInfo) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.resume = r
}

func (rt *running) started() bool { return rt.tr.State() == trace.StateStarted }

// operate carries out op. Before an operation on a stopped trace the
// targets are followed and a fresh output prepared; a trace that is
// stopped afterwards stops following its targets, and one that has just
// stopped stores its final result.
func (rt *running) operate(ctx context.Context, op string) error {
	before := rt.tr.State()
	if before == trace.StateStopped {
		// Whatever op is, it may start the trace: it must fit.
		if err := rt.budget.reserve(rt); err != nil {
			rt.setError(op, err)
			return err
		}
		defer func() {
			if !rt.started() {
				rt.budget.release(rt)
			}
		}()
		if err := rt.startWatch(ctx); err != nil {
			rt.setError(op, err)
			return err
		}
		prev, err := rt.beginRun()
		if err != nil {
			rt.stopWatch()
			rt.setError(op, err)
			return err
		}
		defer rt.settleRun(prev)
	}
	err := rt.tr.Operate(ctx, op)
	defer rt.setError(op, err)
	after := rt.tr.State()
	if after == trace.StateStopped {
		rt.stopWatch()
	}
	if before == trace.StateStarted && after == trace.StateStopped {
		rt.endRun()
		rt.budget.release(rt)
	}
	return err
}

// beginRun prepares what the output mode keeps of the next run; it
// returns the stream of the previous run, which settleRun ends or
// restores.
func (rt *running) beginRun() (prev *streambuf.Ring, err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.sink, rt.sinkBuf, rt.sinkErr = nil, nil, nil
	switch rt.mode {
	case gadget.OutputModeStatus:
		buf := &cappedBuffer{limit: rt.opts.MaxStatusOutput * statusRenderFactor}
		var out gadget.Output
		var err error
		if rt.plugins != nil {
			ctx, cancel := context.WithTimeout(context.Background(), pluginStartTimeout)
			out, err = rt.plugins(ctx, buf, &pluginLog{log: rt.log})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("spec.parameters: start the plugins: %w", err)
			}
		} else if out, err = rt.info.NewOutput(statusFormat, buf, io.Discard); err != nil {
			return nil, fmt.Errorf("create the %s output of gadget %s: %w", statusFormat, rt.info.Name, err)
		}
		rt.sink, rt.sinkBuf = out, buf
		rt.resumeWarning = rt.restoreLocked()
	case gadget.OutputModeStream:
		prev = rt.stream
		rt.stream = newStream(rt.opts.StreamBytes)
		rt.resumeWarning = ""
		if r := rt.resume; r != nil {
			rt.resumeWarning = fmt.Sprintf("the node agent restarted and resumed this trace at %s: edges %s were not streamed",
				stamp(r.at), r.since())
		}
	}
	rt.resume = nil
	return prev, nil
}

// restoreLocked prepares the checkpoint of a Status run: a resumed run
// adds the last checkpoint to its output, a new run drops the one of an
// earlier run. It returns the warning of the run. rt.mu is held.
func (rt *running) restoreLocked() (warning string) {
	r := rt.resume
	if r == nil {
		if err := rt.ckpt.remove(rt.uid); err != nil {
			rt.log.Warn("checkpoint of an earlier run", "err", err)
		}
		return ""
	}
	lost := fmt.Sprintf("the node agent restarted and resumed this trace at %s: edges %s are not in the output",
		stamp(r.at), r.since())
	cp, ok := rt.sink.(gadget.Checkpointer)
	switch {
	case !rt.ckpt.enabled():
		return lost + " (the agent keeps no checkpoints: see gadgetd --checkpoint-dir)"
	case !ok:
		return lost + " (this output, made by plugins, cannot be checkpointed)"
	}
	h, data, found, err := rt.ckpt.load(rt.uid)
	if err != nil {
		rt.log.Warn("checkpoint not restored", "err", err)
		return lost + " (its checkpoint is unreadable: " + err.Error() + ")"
	}
	if !found {
		return lost + " (no checkpoint was taken)"
	}
	defer data.Close()
	if h.Gadget != rt.info.Name || h.Format != rt.checkpointFormat() {
		return lost + fmt.Sprintf(" (its checkpoint is of gadget %s, format %s)", h.Gadget, h.Format)
	}
	if err := cp.Restore(data); err != nil {
		rt.log.Warn("checkpoint not restored", "err", err)
		return lost + " (its checkpoint is unreadable: " + err.Error() + ")"
	}
	rt.log.Info("checkpoint restored", "taken", h.Time)
	return fmt.Sprintf("the node agent restarted and resumed this trace at %s: the output holds what was recorded until "+
		"the checkpoint of %s; edges between %s and %s may be missing", stamp(r.at), stamp(h.Time), stamp(h.Time), stamp(r.at))
}

// since says from when edges may be missing: from the last sign of life
// of the previous agent, when known.
func (r *resumeInfo) since() string {
	if r.lastSeen.IsZero() {
		return "before " + stamp(r.at)
	}
	return "between " + stamp(r.lastSeen) + " (the previous agent's last heartbeat) and " + stamp(r.at)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// checkpointFormat names what the sink of a Status run writes.
func (rt *running) checkpointFormat() string {
	if rt.plugins != nil {
		return "plugins"
	}
	return statusFormat
}

// saveLocked writes the checkpoint of the sink, if it can be
// checkpointed. rt.mu is held.
func (rt *running) saveLocked() error {
	cp, ok := rt.sink.(gadget.Checkpointer)
	if !ok {
		return nil
	}
	h := checkpointHeader{Trace: rt.name, UID: rt.uid, Gadget: rt.info.Name, Format: rt.checkpointFormat(), Time: time.Now()}
	return rt.ckpt.save(h, cp.Checkpoint)
}

// checkpoint saves the output so far of a running trace in the Status
// output mode, when the agent keeps checkpoints and the output can. A
// failure is logged once per run and shown in status.operationWarning.
func (rt *running) checkpoint() {
	if !rt.ckpt.enabled() || rt.mode != gadget.OutputModeStatus || !rt.started() {
		return
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	err := rt.saveLocked()
	switch {
	case err != nil && rt.ckptErr == "":
		rt.log.Warn("checkpoint not written", "err", err)
		rt.ckptErr = "checkpoint not written, a restart of the agent would lose edges: " + err.Error()
	case err == nil:
		rt.ckptErr = ""
	}
}

// settleRun follows beginRun once the operation is done: if the trace
// started, the previous run's result and stream are over; if it did not,
// they stay and the prepared ones are dropped.
func (rt *running) settleRun(prev *streambuf.Ring) {
	started := rt.tr.State() == trace.StateStarted
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if started {
		rt.output, rt.warning, rt.ckptErr = "", "", ""
		if prev != nil {
			prev.End()
		}
		return
	}
	if rt.sink != nil {
		_ = rt.sink.Close()
		rt.sink, rt.sinkBuf, rt.sinkErr = nil, nil, nil
	}
	if rt.mode == gadget.OutputModeStream {
		rt.stream = prev
	}
}

// endRun stores the final result of the run that just stopped.
func (rt *running) endRun() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.sink == nil {
		return
	}
	err := rt.sink.Close()
	raw, lost := rt.sinkBuf.buf.Bytes(), rt.sinkBuf.dropped
	rt.sink, rt.sinkBuf = nil, nil
	rt.ckptErr = ""
	if err := rt.ckpt.remove(rt.uid); err != nil {
		rt.log.Warn("checkpoint of the run that ended", "err", err)
	}
	rt.output, rt.warning = boundOutput(raw, rt.opts.MaxStatusOutput, lost)
	if err = errors.Join(rt.sinkErr, err); err != nil {
		rt.log.Warn("output incomplete", "err", err)
		rt.warning = joinWarnings(rt.warning, "output incomplete: "+err.Error())
	}
}

// emit receives every batch of the instance.
func (rt *running) emit(batch any) {
	m := rt.opts.Metrics
	if rt.opts.Enrich != nil {
		start := time.Now()
		batch = rt.opts.Enrich(rt.info.Name, batch)
		m.Stage(rt.info.Name, metrics.StageEnrich, start)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.sink != nil {
		start := time.Now()
		if err := rt.sink.Batch(batch); err != nil && rt.sinkErr == nil {
			rt.sinkErr = err
		}
		m.Stage(rt.info.Name, metrics.StageOutput, start)
	}
	if rt.stream != nil {
		start := time.Now()
		if err := addBatch(rt.stream, batch); err != nil {
			rt.log.Warn("batch not kept for the stream", "err", err)
		}
		m.Stage(rt.info.Name, metrics.StageStream, start)
	}
}

func (rt *running) setTargetWarning(w string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.targetWarning = w
}

func (rt *running) currentStream() *streambuf.Ring {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.stream
}

// setError records the outcome of the last operation, op: its error, or
// none.
func (rt *running) setError(op string, err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.opError = ""
	if err != nil {
		rt.opError = fmt.Sprintf("operation %q: %v", op, err)
	}
}

// status is what the trace's status shows now: its state, the result of
// its last run and the outcome of the last operation (a warning only
// when it succeeded).
func (rt *running) status() v1alpha1.TraceStatus {
	// The trace's state first, without rt.mu: the locks are taken in the
	// order trace → gadget instance → rt.mu (a target added under the
	// trace's lock waits for the instance's, which emits a batch under its
	// own into rt.emit), so holding rt.mu while asking the trace deadlocks
	// the reconciler (make soak found it).
	cur := rt.tr.State()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	st := v1alpha1.TraceStatus{State: state(cur), Output: rt.output, OperationError: rt.opError}
	if rt.opError == "" {
		st.OperationWarning = joinWarnings(joinWarnings(joinWarnings(rt.resumeWarning, rt.targetWarning), rt.warning), rt.ckptErr)
	}
	if rt.stream != nil {
		st.StreamToken = rt.stream.Token()
	}
	return st
}

// close stops following targets, stops the trace (releasing its kernel
// objects) and ends its stream. When the agent shuts down (keep), a
// running trace's output is checkpointed for the next agent; otherwise
// (the trace was deleted, moved or changed) its checkpoint goes. It is
// safe to call more than once.
func (rt *running) close(ctx context.Context, keep bool) {
	rt.closeOnce.Do(func() {
		started := rt.started()
		rt.stopWatch()
		if err := rt.tr.Close(ctx); err != nil {
			rt.log.Warn("stop trace", "err", err)
		}
		rt.budget.release(rt)
		if keep && started && rt.ckpt.enabled() && rt.mode == gadget.OutputModeStatus {
			// Stopped, so the state check of checkpoint would refuse.
			rt.mu.Lock()
			if err := rt.saveLocked(); err != nil {
				rt.log.Warn("final checkpoint not written", "err", err)
			}
			rt.mu.Unlock()
		}
		if !keep {
			if err := rt.ckpt.remove(rt.uid); err != nil {
				rt.log.Warn("checkpoint of a released trace", "err", err)
			}
		}
		rt.mu.Lock()
		defer rt.mu.Unlock()
		if rt.sink != nil {
			_ = rt.sink.Close()
			rt.sink = nil
		}
		if rt.stream != nil {
			rt.stream.End()
		}
	})
}

func joinWarnings(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
