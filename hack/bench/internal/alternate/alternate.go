// Package alternate measures what something attached to two network
// namespaces costs a load running between them, by attaching and detaching
// it in alternate slices of one run: each slice with it ("on") is compared
// with the slices just before and after it ("off"). On a shared virtual
// machine whose CPUs change speed every few seconds (a busy SMT sibling
// slows a CPU by up to 2×), that comparison holds where separate runs
// seconds apart do not.
//
// What is switched is network-graph (driven through framework/trace, as the
// CLI drives it; "network-graph" in its default attach mode, socket,
// "network-graph-tcx" with attach=tcx), a program that only returns TCX_NEXT at TCX ingress and
// egress of every interface but loopback (the hooks by themselves), or
// nothing (the method's noise floor).
package alternate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/trace"
	"github.com/gadgetkit/gadget/gadgets/networkgraph"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/hack/bench/internal/trivial"
)

// Modes are what a run can switch on and off.
var Modes = []string{"network-graph", "network-graph-tcx", "trivial", "trivial-socket", "none"}

// IsGadget says whether mode switches network-graph (in any attach mode).
func IsGadget(mode string) bool { return strings.HasPrefix(mode, "network-graph") }

// Switch attaches (On) and detaches (Off) what a run measures.
type Switch interface {
	On(ctx context.Context) error
	Off(ctx context.Context) error
	Close(ctx context.Context)
}

// New returns the Switch of mode for the namespaces names (under
// /var/run/netns), switched on. With network-graph, emit gets every batch
// of edges, each namespace's when it is detached among them.
func New(ctx context.Context, log *slog.Logger, mode string, names []string, emit func([]types.Event)) (Switch, error) {
	switch mode {
	case "network-graph":
		return newGadget(ctx, log, names, emit, nil)
	case "network-graph-tcx":
		return newGadget(ctx, log, names, emit, map[string]string{"attach": "tcx"})
	case "trivial", "trivial-socket":
		t := &trivialSwitch{names: names, tcpState: mode == "trivial-socket"}
		if err := t.On(ctx); err != nil {
			t.Close(ctx)
			return nil, err
		}
		return t, nil
	case "none":
		return noSwitch{}, nil
	}
	return nil, fmt.Errorf("unknown mode %q: use one of %v", mode, Modes)
}

// State tells the load what is attached while it runs.
type State struct {
	attached atomic.Bool
	epoch    atomic.Uint64 // switches begun
}

// Mark returns a mark of the current state, for Whole.
func (s *State) Mark() (epoch uint64, attached bool) {
	return s.epoch.Load(), s.attached.Load()
}

// Whole says whether whatever ran since Mark returned epoch and attached
// ran attached all along: attached then, and no switch begun since.
func (s *State) Whole(epoch uint64, attached bool) bool {
	return attached && s.epoch.Load() == epoch && s.attached.Load()
}

// Attached says whether the switch is on and no switch is under way.
func (s *State) Attached() bool { return s.attached.Load() }

// Figure is one counter's comparison over a run.
type Figure struct {
	Ratio float64    `json:"ratio"` // median of the on/off rate ratios
	Range [2]float64 `json:"range"` // their lowest and highest
	On    float64    `json:"on"`    // median rate of the on slices, per second
	Off   float64    `json:"off"`   // median rate of their off neighbours
}

// Result is what Run measured.
type Result struct {
	Slices   int      `json:"slices"`    // on slices compared
	SwitchMS float64  `json:"switch_ms"` // median time of one switch
	Figures  []Figure `json:"-"`         // one per counter, in order
}

// Options shape a run.
type Options struct {
	Total  time.Duration // how long the load runs
	Slice  time.Duration // how long the switch stays on or off
	Settle time.Duration // how long after a switch a slice's steady part begins
}

// Settle is the settling time the commands use: a slice's steady part
// begins this long after its switch ended.
const Settle = 20 * time.Millisecond

// Flags are the command-line flags of a run in alternate slices, the same
// in every command that makes one (hack/bench/flood, hack/bench/churn).
type Flags struct {
	A, B    string        // -a, -b: the two namespaces
	Seconds float64       // -seconds: how long the load runs
	Slice   time.Duration // -slice
	Mode    string        // -mode: one of Modes
}

// Register defines -a, -b, -seconds, -slice and -mode on fs; a and b say
// what runs in each namespace, load what the load does.
func (f *Flags) Register(fs *flag.FlagSet, a, b, load string) {
	fs.StringVar(&f.A, "a", "", "namespace of the "+a+" (a name under /var/run/netns)")
	fs.StringVar(&f.B, "b", "", "namespace of the "+b)
	fs.Float64Var(&f.Seconds, "seconds", 20, "how long to "+load)
	fs.DurationVar(&f.Slice, "slice", 500*time.Millisecond, "how long the switched program stays attached or detached (at least 100ms)")
	fs.StringVar(&f.Mode, "mode", "network-graph", "what is switched on and off: network-graph (attach=socket, the default), network-graph-tcx (attach=tcx), trivial (a program returning at once at TCX), trivial-socket (that and one on attach=socket's tracepoint) or none")
}

// Check validates the flags; its errors name the flag and the fix.
func (f *Flags) Check() error {
	switch {
	case f.A == "" || f.B == "":
		return errors.New("-a and -b, the two namespaces, are required")
	case f.Seconds <= 0:
		return fmt.Errorf("-seconds %v must be positive", f.Seconds)
	case f.Slice < 100*time.Millisecond:
		return fmt.Errorf("-slice %v must be at least 100ms", f.Slice)
	case !slices.Contains(Modes, f.Mode):
		return fmt.Errorf("-mode %q: use one of %v", f.Mode, Modes)
	}
	return nil
}

// Options are the run's Options.
func (f *Flags) Options() Options {
	return Options{Total: time.Duration(f.Seconds * float64(time.Second)), Slice: f.Slice, Settle: Settle}
}

// window is the steady part of one slice.
type window struct {
	on         bool
	start, end time.Time
	counts     []uint64 // what each counter moved within it
}

func (w window) rate(i int) float64 { return float64(w.counts[i]) / w.end.Sub(w.start).Seconds() }

// Run switches sw, which is on, off and on in turn every opts.Slice until
// opts.Total has passed, and leaves it off. Meanwhile the load counts what
// it does in counters, and state tells it what is attached. Each on
// slice's rate of each counter is compared with the mean of its
// neighbours' rates, over their steady parts.
func Run(ctx context.Context, sw Switch, state *State, opts Options, counters ...*atomic.Uint64) (Result, error) {
	var res Result
	if opts.Slice <= opts.Settle {
		return res, fmt.Errorf("slice %v must be longer than the settling time %v", opts.Slice, opts.Settle)
	}
	read := func() []uint64 {
		v := make([]uint64, len(counters))
		for i, c := range counters {
			v[i] = c.Load()
		}
		return v
	}
	var windows []window
	var switches []float64
	on := true
	state.attached.Store(true)
	end := time.Now().Add(opts.Total)
	for time.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		t0 := time.Now()
		// Off as soon as the detaching begins, on once attached: what the
		// load did while attached all passed the hooks.
		state.epoch.Add(1)
		var err error
		if on {
			state.attached.Store(false)
			err = sw.Off(ctx)
		} else {
			err = sw.On(ctx)
		}
		if err != nil {
			return res, err
		}
		on = !on
		state.attached.Store(on)
		switches = append(switches, float64(time.Since(t0).Microseconds())/1000)
		time.Sleep(opts.Settle)
		w := window{on: on, start: time.Now()}
		c0 := read()
		time.Sleep(time.Until(t0.Add(opts.Slice)))
		w.end, w.counts = time.Now(), read()
		for i := range w.counts {
			w.counts[i] -= c0[i]
		}
		windows = append(windows, w)
	}
	if on {
		state.epoch.Add(1)
		state.attached.Store(false)
		if err := sw.Off(ctx); err != nil {
			return res, err
		}
	}

	res, err := compare(windows, len(counters))
	if err != nil {
		return res, err
	}
	res.SwitchMS, _ = Median(switches)
	return res, nil
}

// compare compares each on window's rate of each of n counters with the
// mean of its neighbours' rates; a window at either end has only one and
// is left out, as is one next to an off window where a counter stood still.
func compare(windows []window, n int) (Result, error) {
	var res Result
	ratios := make([][]float64, n)
	onRates := make([][]float64, n)
	offRates := make([][]float64, n)
	for i := 1; i+1 < len(windows); i++ {
		w, before, after := windows[i], windows[i-1], windows[i+1]
		if !w.on || before.on || after.on {
			continue
		}
		off := make([]float64, n)
		usable := true
		for c := range n {
			off[c] = (before.rate(c) + after.rate(c)) / 2
			usable = usable && off[c] > 0
		}
		if !usable {
			continue
		}
		for c := range n {
			ratios[c] = append(ratios[c], w.rate(c)/off[c])
			onRates[c] = append(onRates[c], w.rate(c))
			offRates[c] = append(offRates[c], off[c])
		}
	}
	if n == 0 || len(ratios[0]) == 0 {
		return res, errors.New("no slice to compare: run longer or with shorter slices")
	}
	res.Slices = len(ratios[0])
	for c := range n {
		var f Figure
		f.Ratio, f.Range = Median(ratios[c])
		f.On, _ = Median(onRates[c])
		f.Off, _ = Median(offRates[c])
		res.Figures = append(res.Figures, f)
	}
	return res, nil
}

// Median returns the median of v and its range.
func Median(v []float64) (float64, [2]float64) {
	if len(v) == 0 {
		return 0, [2]float64{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m, [2]float64{s[0], s[len(s)-1]}
}

// gadgetSwitch is network-graph driven through framework/trace; Off and On
// remove and add the namespaces as targets.
type gadgetSwitch struct {
	tr      *trace.Trace
	targets []gadget.Target
}

// newGadget starts network-graph with params (besides interval) on names.
// With attach=socket its TCP state program is detached with the last
// namespace (and attached again with the first): in the off slices
// nothing of network-graph's runs.
func newGadget(ctx context.Context, log *slog.Logger, names []string, emit func([]types.Event), params map[string]string) (*gadgetSwitch, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("host name: %w", err)
	}
	g := &gadgetSwitch{}
	g.tr, err = trace.New(nil, trace.Config{
		Gadget: networkgraph.Name,
		Node:   host,
		// No periodic reads during the run: each detach reads the
		// namespace's edges, and a read every second would fall into
		// slices of the same parity, a bias.
		Parameters: withInterval(params),
		Logger:     log,
		Emit: func(batch any) {
			if evs, ok := batch.([]types.Event); ok && emit != nil {
				emit(evs)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("network-graph trace: %w", err)
	}
	for _, name := range names {
		g.targets = append(g.targets, gadget.Target{ID: name, Node: host, Pod: name, NetnsPath: "/var/run/netns/" + name})
	}
	if err := g.On(ctx); err != nil {
		return nil, err
	}
	if err := g.tr.Operate(ctx, "start"); err != nil {
		return nil, fmt.Errorf("start network-graph: %w", err)
	}
	return g, nil
}

// withInterval is params with interval=1h.
func withInterval(params map[string]string) map[string]string {
	out := map[string]string{"interval": "1h"}
	for k, v := range params {
		out[k] = v
	}
	return out
}

func (g *gadgetSwitch) On(ctx context.Context) error {
	for _, t := range g.targets {
		if err := g.tr.AddTarget(ctx, t); err != nil {
			return fmt.Errorf("attach network-graph to %s: %w", t.ID, err)
		}
	}
	return nil
}

func (g *gadgetSwitch) Off(ctx context.Context) error {
	for _, t := range g.targets {
		if err := g.tr.RemoveTarget(ctx, t.ID); err != nil {
			return fmt.Errorf("detach network-graph from %s: %w", t.ID, err)
		}
	}
	return nil
}

func (g *gadgetSwitch) Close(ctx context.Context) { _ = g.tr.Operate(ctx, "stop") }

// trivialSwitch attaches a program that only returns TCX_NEXT at TCX,
// and with tcpState one that returns at once on attach=socket's
// tracepoint: the bare hooks of attach=tcx, or of attach=socket.
type trivialSwitch struct {
	names      []string
	tcpState   bool
	prog       *ebpf.Program
	statesProg *ebpf.Program
	links      []link.Link
}

func (t *trivialSwitch) On(context.Context) error {
	if t.prog == nil {
		prog, err := trivial.Program(ebpf.SchedCLS, trivial.TCXNext)
		if err != nil {
			return err
		}
		t.prog = prog
	}
	if t.tcpState && t.statesProg == nil {
		prog, err := trivial.TCPState()
		if err != nil {
			return err
		}
		t.statesProg = prog
	}
	links, err := trivial.AttachTCX(t.prog, t.names)
	t.links = links
	if err != nil || !t.tcpState {
		return err
	}
	l, err := trivial.AttachTCPState(t.statesProg)
	if err != nil {
		return err
	}
	t.links = append(t.links, l)
	return nil
}

func (t *trivialSwitch) Off(context.Context) error {
	err := trivial.Detach(t.links)
	t.links = nil
	return err
}

func (t *trivialSwitch) Close(ctx context.Context) {
	_ = t.Off(ctx)
	for _, p := range []*ebpf.Program{t.prog, t.statesProg} {
		if p != nil {
			p.Close()
		}
	}
}

// noSwitch switches nothing: the control.
type noSwitch struct{}

func (noSwitch) On(context.Context) error  { return nil }
func (noSwitch) Off(context.Context) error { return nil }
func (noSwitch) Close(context.Context)     {}
