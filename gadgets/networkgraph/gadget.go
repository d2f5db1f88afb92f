// Package networkgraph is the network-graph gadget: it watches the network
// activity of selected pods (locally: network namespaces or processes) and
// records their TCP connections and UDP streams as the edges of a graph.
//
// The kernel side is a socket filter in bpf/networkgraph; this package
// registers the gadget, attaches the filter to every watched network
// namespace and turns the kernel's counters into types.Event batches. What
// clients need of the gadget is declared in its spec package.
package networkgraph

import (
	"fmt"

	"github.com/cilium/ebpf"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/kubemeta"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// Info returns the gadget's declaration (spec.Info) with its tracer and
// its Kubernetes enrichment.
func Info() *gadget.Info {
	info := spec.Info()
	kbtf := &kernelBTF{}
	info.New = func(cfg gadget.Config) (gadget.Instance, error) {
		in, err := newInstance(cfg)
		if err != nil {
			return nil, err
		}
		in.kernelBTF = kbtf
		return in, nil
	}
	info.KernelMemory = kernelMemory
	info.Metrics = metrics()
	info.Extensions = append(info.Extensions, &kubemeta.Enrichment{
		Enrich: func(cluster kubemeta.Lookup, batch any) {
			if events, ok := batch.([]types.Event); ok {
				KubeEnricher{Cluster: cluster}.Enrich(events)
			}
		},
	})
	return info
}

func init() {
	registry.MustRegister(Info())
}

// kernelMemory is Info.KernelMemory: the eBPF maps and programs one
// instance with params loads.
func kernelMemory(params map[string]string) (uint64, error) {
	opts, err := spec.ParseParameters(params)
	if err != nil {
		return 0, err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, fmt.Errorf("count the possible CPUs: %w", err)
	}
	return ngbpf.MemoryEstimate(ngbpf.Options{MaxEdges: opts.MaxEdges, Socket: opts.Attach == spec.AttachSocket}, ncpu), nil
}
