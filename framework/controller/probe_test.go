package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"sync"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

// probe is a test-only gadget that needs no kernel. It records what the
// framework asks of its instances; on Stop an instance emits one batch of
// edges: "edge-NNNN" for the "edges" parameter (default 0) and
// "target:ID" for every target it watches. Its json output writes the
// sorted unique edges as a JSON array.
type probe struct {
	mu      sync.Mutex
	starts  int
	stops   int
	running int
	ops     map[string]int           // operations carried out, by name
	targets map[string]gadget.Target // of the last started instance
	emit    func(any)                // of the last started instance
}

// emitNow makes the last started instance emit batch, as a gadget does
// while it runs.
func (p *probe) emitNow(batch []string) {
	p.mu.Lock()
	emit := p.emit
	p.mu.Unlock()
	emit(batch)
}

// operations returns how many times op was carried out.
func (p *probe) operations(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ops[op]
}

// operation counts one run of op.
func (p *probe) operation(op string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ops[op]++
}

func (p *probe) counts() (starts, stops, running int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts, p.stops, p.running
}

func (p *probe) targetIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.targets))
}

// newProbeRegistry returns a private registry holding "probe" (output
// modes Status and Stream) and "probe-stream" (Stream only), both
// recording into the returned probe.
func newProbeRegistry() (*registry.Registry, *probe) {
	p := &probe{ops: map[string]int{}}
	reg := &registry.Registry{}
	for name, modes := range map[string][]gadget.OutputMode{
		"probe":        {gadget.OutputModeStatus, gadget.OutputModeStream},
		"probe-stream": {gadget.OutputModeStream},
	} {
		if err := reg.Register(p.info(name, modes)); err != nil {
			panic(err) // a broken test gadget
		}
	}
	return reg, p
}

func (p *probe) info(name string, modes []gadget.OutputMode) *gadget.Info {
	return &gadget.Info{
		Name:        name,
		Description: "A test gadget.",
		Operations: []gadget.Operation{
			{Name: "start", Doc: "Start", Handler: func(ctx context.Context, h gadget.Handle) error { p.operation("start"); return h.Start(ctx) }},
			{Name: "stop", Doc: "Stop", Handler: func(ctx context.Context, h gadget.Handle) error { p.operation("stop"); return h.Stop(ctx) }},
		},
		OutputModes:  modes,
		TypesPackage: "example.com/probe",
		// A capability no gadget of the test registry provides: the
		// framework takes its parameter, the trace runs without it.
		Uses: []gadget.Capability{gadget.CapabilityDNSNames},
		New: func(cfg gadget.Config) (gadget.Instance, error) {
			edges := 0
			for k, v := range cfg.Parameters {
				switch k {
				case "edges":
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return nil, fmt.Errorf("parameter edges %q: want a count, e.g. 3", v)
					}
					edges = n
				default:
					return nil, fmt.Errorf("parameter %q: unknown: probe accepts edges", k)
				}
			}
			return &probeInstance{p: p, emit: cfg.Emit, edges: edges, targets: map[string]gadget.Target{}}, nil
		},
		Formats: []string{"json"},
		NewOutput: func(format string, w, _ io.Writer) (gadget.Output, error) {
			if format != "json" {
				return nil, gadget.ErrUnknownFormat
			}
			return &probeOutput{w: w, edges: map[string]bool{}}, nil
		},
	}
}

type probeInstance struct {
	p       *probe
	emit    func(any)
	edges   int
	targets map[string]gadget.Target
}

func (i *probeInstance) Start(context.Context) error {
	i.p.mu.Lock()
	defer i.p.mu.Unlock()
	i.p.starts++
	i.p.running++
	i.p.targets = i.targets
	i.p.emit = i.emit
	return nil
}

func (i *probeInstance) AddTarget(_ context.Context, t gadget.Target) error {
	i.p.mu.Lock()
	defer i.p.mu.Unlock()
	i.targets[t.ID] = t
	return nil
}

func (i *probeInstance) RemoveTarget(_ context.Context, id string) error {
	i.p.mu.Lock()
	defer i.p.mu.Unlock()
	delete(i.targets, id)
	return nil
}

func (i *probeInstance) Stop(context.Context) error {
	i.p.mu.Lock()
	var batch []string
	for n := range i.edges {
		batch = append(batch, fmt.Sprintf("edge-%04d", n))
	}
	for id := range i.targets {
		batch = append(batch, "target:"+id)
	}
	i.p.stops++
	i.p.running--
	i.p.mu.Unlock()
	i.emit(batch)
	return nil
}

type probeOutput struct {
	w     io.Writer
	edges map[string]bool
}

func (o *probeOutput) Batch(batch any) error {
	b, ok := batch.([]string)
	if !ok {
		return fmt.Errorf("probe output: batch of type %T", batch)
	}
	for _, e := range b {
		o.edges[e] = true
	}
	return nil
}

func (o *probeOutput) Close() error {
	data, err := json.MarshalIndent(slices.Sorted(maps.Keys(o.edges)), "", "  ")
	if err != nil {
		return err
	}
	_, err = o.w.Write(append(data, '\n'))
	return err
}

var _ gadget.Checkpointer = (*probeOutput)(nil)

// Checkpoint writes the edges so far as a JSON array.
func (o *probeOutput) Checkpoint(w io.Writer) error {
	return json.NewEncoder(w).Encode(slices.Sorted(maps.Keys(o.edges)))
}

// Restore adds the edges of a checkpoint.
func (o *probeOutput) Restore(r io.Reader) error {
	var edges []string
	if err := json.NewDecoder(r).Decode(&edges); err != nil {
		return fmt.Errorf("probe output: read the checkpoint: %w", err)
	}
	for _, e := range edges {
		o.edges[e] = true
	}
	return nil
}
