package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/trace"
)

// stopTimeout bounds how long stopping the trace may take once the run is
// over; the instance delivers its final batch within it.
const stopTimeout = 30 * time.Second

// runOptions are the flags of "gadget run <gadget>".
type runOptions struct {
	netns    []string
	pids     []int
	all      bool
	duration time.Duration
	interval time.Duration
	params   []string // --param KEY=VALUE
	output   string
	logLevel string
	plugins  pluginOptions
	web      string // --web ADDR: serve the live view there
	metrics  metricsOptions
}

// validate checks the flags that need no machine state; its errors are
// usageErrors naming the flag and the fix.
func (o runOptions) validate(info *gadget.Info) error {
	if _, err := parseLogLevel(o.logLevel); err != nil {
		return err
	}
	if o.duration < 0 {
		return usagef("--duration %v: must not be negative; use 0 to run until Ctrl-C, or e.g. --duration 10s", o.duration)
	}
	if o.interval <= 0 {
		return usagef("--interval %v: must be positive, e.g. --interval 2s", o.interval)
	}
	formats := info.Formats
	if len(formats) == 0 {
		formats = []string{"jsonl"}
	}
	if o.plugins.formatter == "" && !slices.Contains(formats, o.output) {
		return usagef("--output %q: unknown format for %s: use one of: %s", o.output, info.Name, strings.Join(formats, ", "))
	}
	for _, p := range o.pids {
		if p <= 0 {
			return usagef("--pid %d: must be a process id greater than 0", p)
		}
	}
	if _, err := o.gadgetParams(); err != nil {
		return err
	}
	if err := o.plugins.validate(); err != nil {
		return err
	}
	if err := o.metrics.validate(o.web); err != nil {
		return err
	}
	if len(o.netns) == 0 && len(o.pids) == 0 && !o.all {
		return usagef("no target selected: pass --netns NAME, --pid N or --all")
	}
	return nil
}

// selector is the selection of targets the flags make.
func (o runOptions) selector() containers.Selector {
	return containers.Selector{Netns: slices.Clone(o.netns), PIDs: slices.Clone(o.pids), All: o.all}
}

// gadgetParams parses the --param flags into a map; its errors are
// usageErrors naming the flag.
func (o runOptions) gadgetParams() (map[string]string, error) {
	out := make(map[string]string, len(o.params))
	for _, p := range o.params {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok || k == "":
			return nil, usagef("--param %q: want KEY=VALUE, e.g. --param max-edges=4096", p)
		case k == "interval":
			return nil, usagef("--param %q: set the interval with --interval", p)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("--param %q: %s is set twice; keep one", p, k)
		}
		out[k] = v
	}
	return out, nil
}

// parameters are the gadget parameters the flags set: --interval and
// every --param (validate has checked them).
func (o runOptions) parameters() map[string]string {
	params, _ := o.gadgetParams()
	params["interval"] = o.interval.String()
	return params
}

// runGadget runs one trace of info as o says: it resolves the targets,
// starts the trace, follows targets live with --all, and on a signal or
// when --duration has elapsed stops the trace and writes the final result.
// Errors the user fixes by changing the command are usageErrors.
func runGadget(ctx context.Context, e env, info *gadget.Info, o runOptions) error {
	if err := o.validate(info); err != nil {
		return err
	}
	if err := checkParameters(info, o.parameters()); err != nil {
		return err
	}
	if uid := e.euid(); uid != 0 {
		return usagef("gadget run needs root to load eBPF programs and enter network namespaces (running as uid %d): run it with sudo", uid)
	}
	level, _ := parseLogLevel(o.logLevel)
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	mx, err := openMetrics(e.reg, o, log)
	if err != nil {
		return err
	}
	defer mx.closeUnserved()
	o.metrics.set = mx.metricsSet()
	// Plugins load before the run's clock starts: compiling a WASM module
	// may take seconds.
	var plugins *pluginSet
	if o.plugins.used() {
		var err error
		if plugins, err = loadPlugins(ctx, e, info, o); err != nil {
			return err
		}
		defer plugins.release()
	}

	node, err := e.hostname()
	if err != nil {
		return fmt.Errorf("node name: %w", err)
	}

	// The first signal stops the run cleanly; once it is over, signals
	// regain their default effect so that a second Ctrl-C kills a stuck stop.
	sigCtx, stopSignals := signal.NotifyContext(ctx, e.signals...)
	defer stopSignals()
	runCtx, cancelRun := context.WithCancel(sigCtx)
	defer cancelRun()
	if o.duration > 0 {
		runCtx, cancelRun = context.WithTimeout(sigCtx, o.duration)
		defer cancelRun()
	}

	targets, err := resolveTargets(runCtx, e, node, o)
	if err != nil {
		return err
	}
	out, err := openOutput(ctx, e, info, o, plugins)
	if err != nil {
		return err
	}
	sink := &batchSink{out: out, log: log, metrics: o.metrics.set, gadget: info.Name}
	if mx != nil {
		// Served until the final batch is out, like the page.
		mxCtx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
		defer func() { stopMetrics(); _ = mx.wait() }()
		mx.serve(mxCtx)
		if mx.url != "" {
			fmt.Fprintf(e.stderr, "metrics: %s\n", mx.url)
		}
	}
	if o.web != "" {
		view, err := openLiveView(info, o.web, node, o.interval, log, mx.extra())
		if err != nil {
			return err
		}
		// The page is served until the final batch is out: the run's end,
		// not the signal, stops it.
		viewCtx, stopView := context.WithCancel(context.WithoutCancel(ctx))
		defer func() { stopView(); _ = view.wait() }()
		view.serve(viewCtx)
		sink.view = view
		fmt.Fprintf(e.stderr, "live view: %s\n", view.url)
	}
	tr, err := trace.New(e.reg, trace.Config{
		Gadget:     info.Name,
		Node:       node,
		Parameters: o.parameters(),
		Logger:     log,
		Emit:       sink.batch,
		Metrics:    o.metrics.set,
	})
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := tr.AddTarget(runCtx, t); err != nil {
			return err
		}
		log.Debug("target", "target", t.ID, "netns", t.NetnsPath, "pod", t.Pod)
	}

	if err := tr.Operate(runCtx, "start"); err != nil {
		return err
	}
	log.Info("tracing", "gadget", info.Name, "targets", len(targets), "duration", o.duration, "interval", o.interval)

	g, gctx := errgroup.WithContext(runCtx)
	if o.all {
		g.Go(func() error { return followTargets(gctx, e, tr, node, o, targets, log) })
	}
	<-gctx.Done()
	switch {
	case ctx.Err() != nil:
		log.Info("cancelled, stopping")
	case sigCtx.Err() != nil:
		log.Info("signal received, stopping")
	case runCtx.Err() != nil:
		log.Info("duration elapsed, stopping", "duration", o.duration)
	}
	stopSignals()
	cancelRun()
	watchErr := g.Wait()

	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancelStop()
	stopErr := stopTrace(stopCtx, tr)
	if err := errors.Join(watchErr, stopErr, sink.err(), closeOutput(out)); err != nil {
		return err
	}
	return plugins.failed()
}

// resolveTargets returns the targets the flags select on node now. A
// selection that is missing, malformed or inaccessible, or finds nothing
// without --all, is a usageError.
func resolveTargets(ctx context.Context, e env, node string, o runOptions) ([]gadget.Target, error) {
	targets, err := e.resolve(ctx, node, o.selector())
	switch {
	case errors.Is(err, containers.ErrBadTarget):
		// Missing, malformed or inaccessible: the selection is wrong.
		return nil, usageError{err}
	case err != nil:
		return nil, fmt.Errorf("select targets: %w", err)
	case len(targets) == 0 && !o.all:
		return nil, usagef("no target found for the selection: check --netns and --pid")
	}
	return targets, nil
}

// openOutput returns where the run's batches go: the plugin pipeline when
// plugins are used, else the gadget's --output format. Its errors are
// usageErrors.
func openOutput(ctx context.Context, e env, info *gadget.Info, o runOptions, plugins *pluginSet) (gadget.Output, error) {
	var out gadget.Output
	var err error
	if plugins != nil {
		out, err = plugins.output(ctx)
	} else {
		out, err = newOutput(info, o.output, e.stdout, e.stderr)
	}
	if err != nil {
		if errors.As(err, new(usageError)) {
			return nil, err
		}
		return nil, usageError{err}
	}
	return out, nil
}

// followTargets keeps tr's targets those of the selection as it changes,
// with --all, until ctx ends. started are the targets tr already watches:
// the watch reports every target on its first pass, and those are not
// added or logged again.
func followTargets(ctx context.Context, e env, tr *trace.Trace, node string, o runOptions, started []gadget.Target, log *slog.Logger) error {
	sel := o.selector()
	known := map[string]gadget.Target{}
	for _, t := range started {
		known[t.ID] = t
	}
	add := func(t gadget.Target) {
		old, ok := known[t.ID]
		if ok && old == t {
			return
		}
		if err := tr.AddTarget(ctx, t); err != nil {
			log.Warn("new target not watched", "target", t.ID, "netns", t.NetnsPath, "err", err)
			return
		}
		known[t.ID] = t
		if ok {
			// The same namespace, now by its name (or another
			// process): still attached, relabelled.
			log.Info("target renamed", "target", t.ID, "pod", t.Pod, "was", old.Pod, "netns", t.NetnsPath)
			return
		}
		log.Info("target added", "target", t.ID, "pod", t.Pod, "netns", t.NetnsPath)
	}
	remove := func(id string) {
		delete(known, id)
		if err := tr.RemoveTarget(ctx, id); err != nil {
			log.Warn("target not removed", "target", id, "err", err)
			return
		}
		log.Info("target removed", "target", id)
	}
	err := e.watch(ctx, o.interval,
		func(ctx context.Context) ([]gadget.Target, error) { return e.resolve(ctx, node, sel) },
		func(ctx context.Context) ([]gadget.Target, error) { return e.resolveNamed(ctx, node, sel) },
		add, remove)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("follow targets: %w", err)
	}
	return nil
}

// stopTrace stops tr through the gadget's "stop" operation, or directly
// when the gadget declares none.
func stopTrace(ctx context.Context, tr *trace.Trace) error {
	if _, err := tr.Info().Operation("stop"); err != nil {
		return tr.Stop(ctx)
	}
	return tr.Operate(ctx, "stop")
}

// checkParameters lets the gadget reject the parameters before anything
// runs, so that a bad --interval or --param is a usage error.
func checkParameters(info *gadget.Info, params map[string]string) error {
	if err := trace.CheckParameters(info, params); err != nil {
		return usageError{fmt.Errorf("%s: %w (set with --interval or --param KEY=VALUE)", info.Name, err)}
	}
	return nil
}

// closeOutput writes the final result.
func closeOutput(out gadget.Output) error {
	if err := out.Close(); err != nil {
		return fmt.Errorf("write the result: %w", err)
	}
	return nil
}

// batchSink feeds the instance's batches to the output and keeps the first
// error, which ends the run with exit code 1 once the trace has stopped.
type batchSink struct {
	out  gadget.Output
	log  *slog.Logger
	view *liveView // nil without --web
	// metrics times the stages of each batch for gadget; nil keeps nothing.
	metrics *metrics.Set
	gadget  string

	mu    sync.Mutex
	first error
}

func (s *batchSink) batch(b any) {
	if s.view != nil {
		start := time.Now()
		s.view.publish(b, s.log)
		s.metrics.Stage(s.gadget, metrics.StageWeb, start)
	}
	start := time.Now()
	err := s.out.Batch(b)
	s.metrics.Stage(s.gadget, metrics.StageOutput, start)
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil {
		s.first = fmt.Errorf("write a batch: %w", err)
		s.log.Error("cannot write a batch; later errors are not logged", "err", err)
	}
}

func (s *batchSink) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first
}

// newOutput returns the gadget's output called name, or, for a gadget that
// offers none, one writing each batch as a JSON line.
func newOutput(info *gadget.Info, name string, w, errw io.Writer) (gadget.Output, error) {
	if info.NewOutput != nil {
		out, err := info.NewOutput(name, w, errw)
		if err != nil {
			return nil, fmt.Errorf("--output: %w", err)
		}
		return out, nil
	}
	return jsonLines{enc: json.NewEncoder(w)}, nil
}

// jsonLines is the output of gadgets that declare no formats.
type jsonLines struct{ enc *json.Encoder }

func (j jsonLines) Batch(b any) error { return j.enc.Encode(b) }
func (j jsonLines) Close() error      { return nil }
