// Package trace runs one trace of a gadget, without Kubernetes: it looks the
// gadget up in a registry, creates and starts its instance, remembers the
// targets the trace watches and carries out the gadget's operations. The
// controller and the local CLI drive gadgets through it alike.
package trace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
)

// State is where a trace is in its lifecycle.
type State string

// The states of a trace. A new trace is Stopped; Start moves it to Started
// and Stop back to Stopped. A stopped trace can be started again, with a
// new instance of the gadget.
const (
	StateStopped State = "Stopped"
	StateStarted State = "Started"
)

// Config describes one trace.
type Config struct {
	// Name identifies the trace in logs and errors, e.g. the Trace resource's
	// namespace/name; empty means the gadget's name.
	Name string
	// Gadget is the registered name of the gadget to run, e.g. network-graph.
	Gadget string
	// Node is the name of the node (or host) the trace runs on.
	Node string
	// Filter and Parameters are handed to the gadget as they are.
	Filter     gadget.Filter
	Parameters map[string]string
	// OutputMode is how the results reach the user; it must be one the
	// gadget declares. Empty means the gadget's first output mode.
	OutputMode gadget.OutputMode
	// Logger receives the trace's logs; nil discards them.
	Logger *slog.Logger
	// Emit receives every batch of the instance, one call at a time, in
	// order; nil drops the batches. It must not call back into the Trace.
	Emit func(batch any)
	// Metrics, when set, receives the trace's state, targets, attach
	// latency and batches, and the gadget's own metrics.
	Metrics *metrics.Set
}

// Trace is one trace of a gadget. It implements gadget.Handle. Its methods
// are safe for concurrent use; lifecycle calls (Start, Stop, Operate,
// AddTarget, RemoveTarget) run one at a time.
type Trace struct {
	info *gadget.Info
	reg  *registry.Registry
	cfg  Config
	log  *slog.Logger

	mu       sync.Mutex
	state    State
	instance gadget.Instance
	targets  map[string]gadget.Target
	// companions are the instances of other gadgets run beside instance
	// because it Uses what they Provide (see startCompanions).
	companions []companion
	// gadgetMetrics is the running instance's gadget.Metrics; reported is
	// the number of targets counted in Config.Metrics; closed is set by
	// Close.
	gadgetMetrics *metrics.GadgetMetrics
	reported      int
	closed        bool

	emitMu sync.Mutex
}

var _ gadget.Handle = (*Trace)(nil)

// New looks cfg.Gadget up in reg (registry.Default when reg is nil) and
// returns a stopped trace. It fails with an error wrapping
// registry.ErrNotFound for an unknown gadget, and one wrapping
// gadget.ErrUnsupportedOutputMode for an output mode the gadget does not
// declare. New creates no instance: Start does.
func New(reg *registry.Registry, cfg Config) (*Trace, error) {
	if reg == nil {
		reg = registry.Default
	}
	info, err := reg.Lookup(cfg.Gadget)
	if err != nil {
		return nil, fmt.Errorf("new trace: gadget: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = info.Name
	}
	if cfg.OutputMode == "" {
		cfg.OutputMode = info.OutputModes[0]
	}
	if !info.SupportsOutputMode(cfg.OutputMode) {
		return nil, fmt.Errorf("trace %s: output mode %q: %w: gadget %s supports %v",
			cfg.Name, cfg.OutputMode, gadget.ErrUnsupportedOutputMode, info.Name, info.OutputModes)
	}
	cfg.Parameters = maps.Clone(cfg.Parameters)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.Metrics.TraceCreated(info.Name)
	return &Trace{
		info:    info,
		reg:     reg,
		cfg:     cfg,
		log:     log.With("trace", cfg.Name),
		state:   StateStopped,
		targets: map[string]gadget.Target{},
	}, nil
}

// setStateLocked moves the trace to state s and keeps the metrics in
// step.
func (t *Trace) setStateLocked(s State) {
	t.cfg.Metrics.TraceState(t.info.Name, string(t.state), string(s))
	t.state = s
	t.reportTargetsLocked()
}

// reportTargetsLocked brings the targets counted in the metrics in step
// with the targets a started trace watches.
func (t *Trace) reportTargetsLocked() {
	n := 0
	if t.state == StateStarted {
		n = len(t.targets)
	}
	t.cfg.Metrics.TargetsAttached(t.info.Name, n-t.reported)
	t.reported = n
}

// addTarget adds tg to inst, timing it for the metrics.
func (t *Trace) addTarget(ctx context.Context, inst gadget.Instance, tg gadget.Target) error {
	start := time.Now()
	err := inst.AddTarget(ctx, tg)
	if err == nil {
		t.cfg.Metrics.Attached(t.info.Name, time.Since(start))
	}
	return err
}

// Close stops the trace if it runs and removes it from the metrics; the
// trace must not be used afterwards. Closing twice is a no-op.
func (t *Trace) Close(ctx context.Context) error {
	err := t.Stop(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		t.cfg.Metrics.TraceState(t.info.Name, string(t.state), "")
	}
	return err
}

// Info returns the declaration of the trace's gadget.
func (t *Trace) Info() *gadget.Info { return t.info }

// OutputMode returns the trace's output mode.
func (t *Trace) OutputMode() gadget.OutputMode { return t.cfg.OutputMode }

// State returns the trace's current state.
func (t *Trace) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Targets returns the targets the trace watches, sorted by ID.
func (t *Trace) Targets() []gadget.Target {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := slices.Sorted(maps.Keys(t.targets))
	out := make([]gadget.Target, 0, len(ids))
	for _, id := range ids {
		out = append(out, t.targets[id])
	}
	return out
}

// Operate carries out the gadget operation called name, e.g. "start". An
// operation the gadget does not declare gives an error wrapping
// gadget.ErrUnknownOperation that lists the valid ones.
func (t *Trace) Operate(ctx context.Context, name string) error {
	op, err := t.info.Operation(name)
	if err != nil {
		return fmt.Errorf("trace %s: %w", t.cfg.Name, err)
	}
	t.log.Debug("operation", "operation", name)
	if err := op.Handler(ctx, t); err != nil {
		return fmt.Errorf("trace %s: operation %s: %w", t.cfg.Name, name, err)
	}
	return nil
}

// Start creates a new instance of the gadget, starts it and adds every
// target the trace knows. Starting a started trace is a no-op. A target
// that cannot be added is logged and forgotten; Start fails if the
// instance cannot be created or started, or if no known target could be
// added, and the trace then stays stopped.
func (t *Trace) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == StateStarted {
		return nil
	}
	params, uses, err := splitParameters(t.info, t.cfg.Parameters)
	if err != nil {
		return fmt.Errorf("trace %s: %w", t.cfg.Name, err)
	}
	nameTable := t.startCompanions(ctx, uses)
	gm := t.cfg.Metrics.Gadget(t.info.Name, t.cfg.Name)
	inst, err := t.info.New(gadget.Config{
		Node:       t.cfg.Node,
		Filter:     t.cfg.Filter,
		Parameters: params,
		Logger:     t.log,
		Emit:       t.emit,
		Names:      nameTable,
		Metrics:    gm,
	})
	if err != nil {
		t.stopCompanions(ctx)
		return fmt.Errorf("trace %s: create %s instance: %w", t.cfg.Name, t.info.Name, err)
	}
	if err := inst.Start(ctx); err != nil {
		t.stopCompanions(ctx)
		gm.Close()
		return fmt.Errorf("trace %s: start %s: %w", t.cfg.Name, t.info.Name, err)
	}

	var failed []error
	for _, id := range slices.Sorted(maps.Keys(t.targets)) {
		if err := t.addTarget(ctx, inst, t.targets[id]); err != nil {
			t.log.Warn("target not added, forgetting it", "target", id, "netns", t.targets[id].NetnsPath, "err", err)
			failed = append(failed, fmt.Errorf("target %s: %w", id, err))
			delete(t.targets, id)
		}
	}
	if len(failed) > 0 && len(t.targets) == 0 {
		err := errors.Join(failed...)
		if serr := inst.Stop(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", serr))
		}
		t.stopCompanions(ctx)
		gm.Close()
		return fmt.Errorf("trace %s: start %s: no target could be added: %w", t.cfg.Name, t.info.Name, err)
	}

	t.instance = inst
	t.gadgetMetrics = gm
	t.setStateLocked(StateStarted)
	t.log.Info("trace started", "gadget", t.info.Name, "targets", len(t.targets))
	return nil
}

// Stop stops the instance, which delivers its final batch through Emit
// before Stop returns. Stopping a stopped trace is a no-op. The trace is
// stopped even when the instance reports an error, which Stop returns.
func (t *Trace) Stop(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == StateStopped {
		return nil
	}
	inst := t.instance
	t.instance = nil
	t.setStateLocked(StateStopped)
	// The instance's final batch may still use its companions' names:
	// they stop after it.
	err := inst.Stop(ctx)
	t.stopCompanions(ctx)
	t.gadgetMetrics.Close()
	t.gadgetMetrics = nil
	if err != nil {
		return fmt.Errorf("trace %s: stop %s: %w", t.cfg.Name, t.info.Name, err)
	}
	t.log.Info("trace stopped", "gadget", t.info.Name)
	return nil
}

// AddTarget makes the trace watch tg: the running instance now, and every
// instance a later Start creates. Adding a known ID again replaces the
// remembered target; if its labels changed (Pod, NetnsPath, …), a running
// instance that is a gadget.Relabeler takes the new ones in place, any
// other has the target removed and added again. If the running instance
// cannot add it, AddTarget returns the error and the trace does not
// remember the target.
func (t *Trace) AddTarget(ctx context.Context, tg gadget.Target) error {
	if tg.ID == "" {
		return fmt.Errorf("trace %s: add target: ID is empty: give every target an ID", t.cfg.Name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old, known := t.targets[tg.ID]
	if t.state == StateStarted && known && old != tg {
		if r, ok := t.instance.(gadget.Relabeler); ok {
			if err := r.RelabelTarget(ctx, tg); err != nil {
				return fmt.Errorf("trace %s: relabel target %s: %w", t.cfg.Name, tg.ID, err)
			}
			t.log.Debug("target relabelled", "target", tg.ID, "netns", tg.NetnsPath, "pod", tg.Pod)
			t.companionsAdd(ctx, tg, true)
			t.targets[tg.ID] = tg
			return nil
		}
		if err := t.instance.RemoveTarget(ctx, tg.ID); err != nil {
			return fmt.Errorf("trace %s: remove target %s to add it again: %w", t.cfg.Name, tg.ID, err)
		}
		t.companionsRemove(ctx, tg.ID)
		delete(t.targets, tg.ID)
		known = false
	}
	if t.state == StateStarted && !known {
		if err := t.addTarget(ctx, t.instance, tg); err != nil {
			return fmt.Errorf("trace %s: add target %s: %w", t.cfg.Name, tg.ID, err)
		}
		t.log.Debug("target added", "target", tg.ID, "netns", tg.NetnsPath, "pod", tg.Pod)
	}
	if t.state == StateStarted && !known {
		t.companionsAdd(ctx, tg, false)
	}
	t.targets[tg.ID] = tg
	t.reportTargetsLocked()
	return nil
}

// RemoveTarget makes the trace stop watching the target called id; the
// running instance delivers what it saw of it first. Removing an unknown
// target is a no-op.
func (t *Trace) RemoveTarget(ctx context.Context, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, known := t.targets[id]; !known {
		return nil
	}
	delete(t.targets, id)
	t.reportTargetsLocked()
	if t.state == StateStarted {
		t.companionsRemove(ctx, id)
		if err := t.instance.RemoveTarget(ctx, id); err != nil {
			return fmt.Errorf("trace %s: remove target %s: %w", t.cfg.Name, id, err)
		}
		t.log.Debug("target removed", "target", id)
	}
	return nil
}

// emit hands a batch to Config.Emit, one batch at a time.
func (t *Trace) emit(batch any) {
	if t.cfg.Emit == nil {
		return
	}
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	start := time.Now()
	t.cfg.Metrics.Batch(t.info.Name)
	t.cfg.Emit(batch)
	t.cfg.Metrics.Stage(t.info.Name, metrics.StageEmit, start)
}
