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
	info.New = func(cfg gadget.Config) (gadget.Instance, error) {
		in, err := newInstance(cfg)
		if err != nil {
			return nil, err
		}
		return in, nil
	}
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
