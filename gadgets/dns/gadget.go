// Package dns is the dns gadget: it watches the DNS traffic of selected
// pods (locally: network namespaces or processes) and reports each query
// with its response — name, type, response code, answers with their TTLs,
// server and latency — and the queries left unanswered.
//
// The kernel side, in bpf/dns, copies only DNS packets (bounded in length)
// into a ring buffer; this package parses them with
// golang.org/x/net/dns/dnsmessage, matches queries and responses, and turns
// them into types.Event batches. What clients need of the gadget is
// declared in its spec package.
package dns

import (
	"fmt"

	"github.com/cilium/ebpf"

	dnsbpf "github.com/gadgetkit/gadget/bpf/dns"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/dns/spec"
)

// The name and parameters of dns, declared in its spec package.
const (
	Name            = spec.Name
	ParamInterval   = spec.ParamInterval
	ParamPort       = spec.ParamPort
	ParamTimeout    = spec.ParamTimeout
	ParamMaxPending = spec.ParamMaxPending
)

// Info returns the gadget's declaration (spec.Info) with its tracer.
func Info() *gadget.Info {
	info := spec.Info()
	info.New = func(cfg gadget.Config) (gadget.Instance, error) {
		in, err := newInstance(cfg)
		if err != nil {
			return nil, err
		}
		return in, nil
	}
	info.KernelMemory = kernelMemory
	return info
}

func init() {
	registry.MustRegister(Info())
}

// kernelMemory is Info.KernelMemory: the eBPF maps and programs one
// instance with params loads.
func kernelMemory(params map[string]string) (uint64, error) {
	_, err := spec.ParseParameters(params)
	if err != nil {
		return 0, err
	}
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, fmt.Errorf("count the possible CPUs: %w", err)
	}
	return dnsbpf.MemoryEstimate(dnsbpf.Options{}, ncpu), nil
}
