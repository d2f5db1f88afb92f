package trace

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

// fakeInstance records the calls it gets and emits one batch per call of
// Start, AddTarget, RemoveTarget and Stop, naming the call.
type fakeInstance struct {
	cfg     gadget.Config
	failAdd map[string]bool
	failOn  string // "start" or "stop" makes that call fail
	tickers int    // goroutines that each emit 20 "tick" batches after Start

	ticking sync.WaitGroup
	mu      sync.Mutex
	calls   []string
	started bool
	stopped bool
}

func (f *fakeInstance) record(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	f.cfg.Emit(call)
}

func (f *fakeInstance) Start(ctx context.Context) error {
	if f.failOn == "start" {
		return errors.New("no BTF")
	}
	f.mu.Lock()
	f.started = true
	f.mu.Unlock()
	f.record("start")
	for range f.tickers {
		f.ticking.Go(func() {
			for range 20 {
				f.cfg.Emit("tick")
			}
		})
	}
	return nil
}

func (f *fakeInstance) AddTarget(ctx context.Context, t gadget.Target) error {
	if f.failAdd[t.ID] {
		return fmt.Errorf("attach %s: permission denied", t.ID)
	}
	f.record("add " + t.ID)
	return nil
}

func (f *fakeInstance) RemoveTarget(ctx context.Context, id string) error {
	f.record("remove " + id)
	return nil
}

func (f *fakeInstance) Stop(ctx context.Context) error {
	f.ticking.Wait()
	f.record("stop")
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	if f.failOn == "stop" {
		return errors.New("detach failed")
	}
	return nil
}

// relabelingInstance is a fakeInstance that is a gadget.Relabeler.
type relabelingInstance struct{ *fakeInstance }

func (r relabelingInstance) RelabelTarget(ctx context.Context, t gadget.Target) error {
	r.record("relabel " + t.ID + "=" + t.Pod)
	return nil
}

func (f *fakeInstance) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeGadget is a gadget whose instances are fakeInstances, kept in order
// of creation.
type fakeGadget struct {
	relabel bool // instances are relabelingInstances
	failNew bool
	failAdd map[string]bool
	failOn  string
	tickers int

	mu        sync.Mutex
	instances []*fakeInstance
}

func (g *fakeGadget) info() *gadget.Info {
	return &gadget.Info{
		Name:        "fake",
		Description: "A fake gadget for tests.",
		Operations: []gadget.Operation{
			{Name: "start", Doc: "Start fake", Handler: func(ctx context.Context, h gadget.Handle) error { return h.Start(ctx) }},
			{Name: "stop", Doc: "Stop fake", Handler: func(ctx context.Context, h gadget.Handle) error { return h.Stop(ctx) }},
			{Name: "restart", Doc: "Restart fake", Handler: func(ctx context.Context, h gadget.Handle) error {
				if err := h.Stop(ctx); err != nil {
					return err
				}
				return h.Start(ctx)
			}},
		},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream, gadget.OutputModeStatus},
		TypesPackage: "example.com/fake/types",
		New: func(cfg gadget.Config) (gadget.Instance, error) {
			if g.failNew {
				return nil, errors.New("bad parameter interval")
			}
			inst := &fakeInstance{cfg: cfg, failAdd: g.failAdd, failOn: g.failOn, tickers: g.tickers}
			g.mu.Lock()
			g.instances = append(g.instances, inst)
			g.mu.Unlock()
			if g.relabel {
				return relabelingInstance{inst}, nil
			}
			return inst, nil
		},
	}
}

func (g *fakeGadget) Instances() []*fakeInstance {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.instances)
}

// batches collects what the trace emits.
type batches struct {
	mu  sync.Mutex
	got []string
}

func (b *batches) emit(batch any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, batch.(string))
}

func (b *batches) Got() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

func newTrace(t *testing.T, g *fakeGadget, emit func(any)) *Trace {
	t.Helper()
	reg := &registry.Registry{}
	if err := reg.Register(g.info()); err != nil {
		t.Fatal(err)
	}
	tr, err := New(reg, Config{Gadget: "fake", Node: "node1", Parameters: map[string]string{"interval": "1s"}, Emit: emit})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func target(id string) gadget.Target {
	return gadget.Target{ID: id, Pod: id, NetnsPath: "/var/run/netns/" + id}
}

func TestNew(t *testing.T) {
	reg := &registry.Registry{}
	if err := reg.Register((&fakeGadget{}).info()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      Config
		wantErr  error
		wantMode gadget.OutputMode
	}{
		{name: "default mode", cfg: Config{Gadget: "fake"}, wantMode: gadget.OutputModeStream},
		{name: "declared mode", cfg: Config{Gadget: "fake", OutputMode: gadget.OutputModeStatus}, wantMode: gadget.OutputModeStatus},
		{name: "undeclared mode", cfg: Config{Gadget: "fake", OutputMode: gadget.OutputModeFile}, wantErr: gadget.ErrUnsupportedOutputMode},
		{name: "unknown gadget", cfg: Config{Gadget: "nope"}, wantErr: registry.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := New(reg, tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if tr.OutputMode() != tt.wantMode {
				t.Errorf("OutputMode = %q, want %q", tr.OutputMode(), tt.wantMode)
			}
			if tr.State() != StateStopped {
				t.Errorf("State = %q, want %q", tr.State(), StateStopped)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		ops         []string
		wantErr     error
		wantState   State
		wantCalls   [][]string // per instance
		wantBatches []string
	}{
		{
			name:      "start",
			ops:       []string{"start"},
			wantState: StateStarted,
			wantCalls: [][]string{{"start", "add a", "add b"}},
		},
		{
			name:      "start stop",
			ops:       []string{"start", "stop"},
			wantState: StateStopped,
			wantCalls: [][]string{{"start", "add a", "add b", "stop"}},
		},
		{
			name:      "idempotent",
			ops:       []string{"stop", "start", "start", "stop", "stop"},
			wantState: StateStopped,
			wantCalls: [][]string{{"start", "add a", "add b", "stop"}},
		},
		{
			name:      "restart makes a new instance with the same targets",
			ops:       []string{"start", "restart"},
			wantState: StateStarted,
			wantCalls: [][]string{{"start", "add a", "add b", "stop"}, {"start", "add a", "add b"}},
		},
		{
			name:      "unknown operation",
			ops:       []string{"pause"},
			wantErr:   gadget.ErrUnknownOperation,
			wantState: StateStopped,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fakeGadget{}
			var b batches
			tr := newTrace(t, g, b.emit)
			for _, id := range []string{"b", "a"} {
				if err := tr.AddTarget(ctx, target(id)); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			for _, op := range tt.ops {
				if err = tr.Operate(ctx, op); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Operate = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "start") {
				t.Errorf("error %q does not list the valid operations", err)
			}
			if got := tr.State(); got != tt.wantState {
				t.Errorf("State = %q, want %q", got, tt.wantState)
			}
			insts := g.Instances()
			if len(insts) != len(tt.wantCalls) {
				t.Fatalf("%d instances created, want %d", len(insts), len(tt.wantCalls))
			}
			var all []string
			for i, inst := range insts {
				if got := inst.Calls(); !slices.Equal(got, tt.wantCalls[i]) {
					t.Errorf("instance %d calls = %q, want %q", i, got, tt.wantCalls[i])
				}
				all = append(all, inst.Calls()...)
				if inst.cfg.Node != "node1" || inst.cfg.Parameters["interval"] != "1s" || inst.cfg.Logger == nil {
					t.Errorf("instance %d got config %+v, want the trace's node, parameters and a logger", i, inst.cfg)
				}
			}
			// Every call emitted a batch, so the batches show that the
			// final one (stop) arrived before Stop returned.
			if got := b.Got(); !slices.Equal(got, all) {
				t.Errorf("batches = %q, want %q", got, all)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	ctx := context.Background()
	g := &fakeGadget{}
	tr := newTrace(t, g, nil)

	if err := tr.AddTarget(ctx, gadget.Target{}); err == nil || !strings.Contains(err.Error(), "ID") {
		t.Errorf("AddTarget without ID = %v, want an error naming ID", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.AddTarget(ctx, target("a")))
	must(tr.RemoveTarget(ctx, "unknown"))
	must(tr.Start(ctx))
	must(tr.AddTarget(ctx, target("b")))
	must(tr.AddTarget(ctx, target("b"))) // known: not added twice
	must(tr.RemoveTarget(ctx, "a"))
	must(tr.RemoveTarget(ctx, "a")) // forgotten: not removed twice
	must(tr.Stop(ctx))
	must(tr.AddTarget(ctx, target("c"))) // stopped: remembered only
	must(tr.RemoveTarget(ctx, "b"))      // stopped: forgotten only
	must(tr.Start(ctx))

	insts := g.Instances()
	want := [][]string{
		{"start", "add a", "add b", "remove a", "stop"},
		{"start", "add c"},
	}
	for i, inst := range insts {
		if got := inst.Calls(); !slices.Equal(got, want[i]) {
			t.Errorf("instance %d calls = %q, want %q", i, got, want[i])
		}
	}
	var ids []string
	for _, tg := range tr.Targets() {
		ids = append(ids, tg.ID)
	}
	if !slices.Equal(ids, []string{"c"}) {
		t.Errorf("Targets = %q, want [c]", ids)
	}
}

// TestRelabel adds a known target again under another name: a
// gadget.Relabeler takes the new labels in place, any other instance has
// the target removed and added again.
func TestRelabel(t *testing.T) {
	for _, c := range []struct {
		relabel bool
		want    []string
	}{
		{false, []string{"start", "add a", "remove a", "add a"}},
		{true, []string{"start", "add a", "relabel a=blue"}},
	} {
		ctx := context.Background()
		g := &fakeGadget{relabel: c.relabel}
		tr := newTrace(t, g, nil)
		renamed := target("a")
		renamed.Pod = "blue"
		for _, err := range []error{
			tr.Start(ctx),
			tr.AddTarget(ctx, target("a")),
			tr.AddTarget(ctx, renamed),
			tr.AddTarget(ctx, renamed), // unchanged: nothing to do
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := g.Instances()[0].Calls(); !slices.Equal(got, c.want) {
			t.Errorf("relabel=%v: calls = %q, want %q", c.relabel, got, c.want)
		}
		if ts := tr.Targets(); len(ts) != 1 || ts[0] != renamed {
			t.Errorf("relabel=%v: Targets = %+v, want [%+v]", c.relabel, ts, renamed)
		}
	}
}

func TestFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		g           *fakeGadget
		op          string
		wantErr     string
		wantState   State
		wantTargets []string
	}{
		{name: "New fails", g: &fakeGadget{failNew: true}, op: "start", wantErr: "bad parameter interval", wantState: StateStopped, wantTargets: []string{"a", "b"}},
		{name: "Start fails", g: &fakeGadget{failOn: "start"}, op: "start", wantErr: "no BTF", wantState: StateStopped, wantTargets: []string{"a", "b"}},
		{name: "one target fails", g: &fakeGadget{failAdd: map[string]bool{"a": true}}, op: "start", wantState: StateStarted, wantTargets: []string{"b"}},
		{name: "every target fails", g: &fakeGadget{failAdd: map[string]bool{"a": true, "b": true}}, op: "start", wantErr: "no target could be added", wantState: StateStopped},
		{name: "Stop fails", g: &fakeGadget{failOn: "stop"}, op: "restart", wantErr: "detach failed", wantState: StateStopped, wantTargets: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTrace(t, tt.g, nil)
			for _, id := range []string{"a", "b"} {
				if err := tr.AddTarget(ctx, target(id)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.op == "restart" {
				if err := tr.Start(ctx); err != nil {
					t.Fatal(err)
				}
			}
			err := tr.Operate(ctx, tt.op)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Operate(%s) = %v, want error containing %q", tt.op, err, tt.wantErr)
			}
			if got := tr.State(); got != tt.wantState {
				t.Errorf("State = %q, want %q", got, tt.wantState)
			}
			var ids []string
			for _, tg := range tr.Targets() {
				ids = append(ids, tg.ID)
			}
			if !slices.Equal(ids, tt.wantTargets) {
				t.Errorf("Targets = %q, want %q", ids, tt.wantTargets)
			}
			if tt.name == "every target fails" {
				if inst := tt.g.Instances()[0]; !inst.stopped {
					t.Error("the instance whose targets all failed was not stopped")
				}
			}
		})
	}
}

// TestConcurrent runs every lifecycle call from many goroutines at once;
// run with -race. Batches must reach Emit one at a time.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	var inEmit, overlaps atomic.Int32
	emit := func(any) {
		if inEmit.Add(1) > 1 {
			overlaps.Add(1)
		}
		runtime.Gosched()
		inEmit.Add(-1)
	}
	g := &fakeGadget{tickers: 4}
	tr := newTrace(t, g, emit)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("t%d", i)
			for range 50 {
				_ = tr.Operate(ctx, "start")
				_ = tr.AddTarget(ctx, target(id))
				_ = tr.State()
				_ = tr.Targets()
				_ = tr.RemoveTarget(ctx, id)
				_ = tr.Operate(ctx, "stop")
			}
		})
	}
	wg.Wait()
	if err := tr.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if tr.State() != StateStopped {
		t.Errorf("State = %q after the final Stop", tr.State())
	}
	for i, inst := range g.Instances() {
		calls := inst.Calls()
		if len(calls) == 0 || calls[0] != "start" || calls[len(calls)-1] != "stop" || !inst.stopped {
			t.Errorf("instance %d calls %q: want start first and stop last", i, calls)
		}
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("Emit ran concurrently %d times", n)
	}
}
