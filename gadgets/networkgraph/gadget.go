// Package networkgraph is the network-graph gadget: it watches the network
// activity of selected pods (locally: network namespaces or processes) and
// records their TCP connections and UDP streams as the edges of a graph.
//
// The kernel side is a socket filter in bpf/networkgraph; this package
// registers the gadget, attaches the filter to every watched network
// namespace and turns the kernel's counters into types.Event batches.
package networkgraph

import (
	"context"
	"fmt"
	"io"

	"github.com/cilium/ebpf"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
)

// Name is the gadget's registered name.
const Name = "network-graph"

// Info returns the gadget's declaration.
func Info() *gadget.Info {
	return &gadget.Info{
		Name:        Name,
		Description: "The network-graph gadget monitors the network activity in the specified pods and records the list of TCP connections and UDP streams.",
		Operations: []gadget.Operation{
			{
				Name: "start",
				Doc:  "Start network-graph",
				Handler: func(ctx context.Context, h gadget.Handle) error {
					return h.Start(ctx)
				},
			},
			{
				Name: "stop",
				Doc:  "Stop network-graph",
				Handler: func(ctx context.Context, h gadget.Handle) error {
					return h.Stop(ctx)
				},
			},
		},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream, gadget.OutputModeStatus},
		TypesPackage: "github.com/gadgetkit/gadget/gadgets/networkgraph/types",
		Example: gadget.ExampleTrace{
			Name:       "network-graph",
			Namespace:  "gadget",
			Node:       "albantyphoon-worker000003",
			Filter:     gadget.Filter{Namespace: "demo"},
			RunMode:    "Manual",
			OutputMode: gadget.OutputModeStream,
		},
		KernelMemory: kernelMemory,
		New: func(cfg gadget.Config) (gadget.Instance, error) {
			in, err := newInstance(cfg)
			if err != nil {
				return nil, err
			}
			return in, nil
		},
		// Remote addresses are named from the DNS answers the pods
		// received, when a registered gadget (dns) provides them.
		Uses:    []gadget.Capability{gadget.CapabilityDNSNames},
		Metrics: metrics(),
		Formats: format.Names(),
		NewOutput: func(name string, w io.Writer, errw io.Writer) (gadget.Output, error) {
			return format.New(name, w, errw)
		},
	}
}

func init() {
	registry.MustRegister(Info())
}

// kernelMemory is Info.KernelMemory: the eBPF maps and programs one
// instance with params loads.
func kernelMemory(params map[string]string) (uint64, error) {
	opts, err := parseParameters(params)
	if err != nil {
		return 0, err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, fmt.Errorf("count the possible CPUs: %w", err)
	}
	return ngbpf.MemoryEstimate(ngbpf.Options{MaxEdges: opts.maxEdges}, ncpu), nil
}
