// Package dns is the dns gadget: it watches the DNS traffic of selected
// pods (locally: network namespaces or processes) and reports each query
// with its response — name, type, response code, answers with their TTLs,
// server and latency — and the queries left unanswered.
//
// The kernel side, in bpf/dns, copies only DNS packets (bounded in length)
// into a ring buffer; this package parses them with
// golang.org/x/net/dns/dnsmessage, matches queries and responses, and turns
// them into types.Event batches.
package dns

import (
	"context"
	"fmt"
	"io"

	"github.com/cilium/ebpf"

	dnsbpf "github.com/gadgetkit/gadget/bpf/dns"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

// Name is the gadget's registered name.
const Name = "dns"

// Info returns the gadget's declaration.
func Info() *gadget.Info {
	return &gadget.Info{
		Name: Name,
		Description: "The dns gadget monitors the DNS queries of the specified pods over UDP and TCP and reports " +
			"each query with its response (name, type, response code, A, AAAA and CNAME answers with their TTLs, " +
			"server and latency), and the queries left unanswered.",
		Operations: []gadget.Operation{
			{
				Name: "start",
				Doc:  "Start dns",
				Handler: func(ctx context.Context, h gadget.Handle) error {
					return h.Start(ctx)
				},
			},
			{
				Name: "stop",
				Doc:  "Stop dns",
				Handler: func(ctx context.Context, h gadget.Handle) error {
					return h.Stop(ctx)
				},
			},
		},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream, gadget.OutputModeStatus},
		TypesPackage: "github.com/gadgetkit/gadget/gadgets/dns/types",
		Example: gadget.ExampleTrace{
			Name:       "dns",
			Namespace:  "gadget",
			Node:       "albantyphoon-worker000003",
			Filter:     gadget.Filter{Namespace: "demo"},
			RunMode:    "Manual",
			OutputMode: gadget.OutputModeStream,
			Parameters: map[string]string{ParamTimeout: "5s"},
		},
		KernelMemory: kernelMemory,
		New: func(cfg gadget.Config) (gadget.Instance, error) {
			in, err := newInstance(cfg)
			if err != nil {
				return nil, err
			}
			return in, nil
		},
		// Other gadgets of the same trace (network-graph) learn from it
		// which names the pods resolved to which addresses.
		Provides: []gadget.Capability{gadget.CapabilityDNSNames},
		Formats:  formatNames(),
		NewOutput: func(name string, w io.Writer, errw io.Writer) (gadget.Output, error) {
			return newOutput(name, w, errw)
		},
	}
}

func init() {
	registry.MustRegister(Info())
}

// kernelMemory is Info.KernelMemory: the eBPF maps and programs one
// instance with params loads.
func kernelMemory(params map[string]string) (uint64, error) {
	_, err := parseParameters(params)
	if err != nil {
		return 0, err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, fmt.Errorf("count the possible CPUs: %w", err)
	}
	return dnsbpf.MemoryEstimate(dnsbpf.Options{}, ncpu), nil
}
