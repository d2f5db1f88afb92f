// Package trivial loads and attaches eBPF programs that do nothing, so the
// benchmarks can tell what a hook costs by itself from what network-graph's
// program costs on it.
package trivial

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/gadgetkit/gadget/framework/containers"
)

// TCXNext is TCX_NEXT: let the packet go on as if no program were attached.
const TCXNext = -1

// Program loads a program of type typ, named gbench_trivial, that returns
// ret.
func Program(typ ebpf.ProgramType, ret int32) (*ebpf.Program, error) {
	return load(ebpf.ProgramSpec{Name: "gbench_trivial", Type: typ}, ret)
}

// TCPState loads a program, named gbench_tcpstate (15 characters: the
// kernel keeps no more of a name without BTF), that returns at once,
// for the inet_sock_set_state tracepoint (tp_btf), where network-graph's
// attach=socket attaches its own (AttachTCPState).
func TCPState() (*ebpf.Program, error) {
	return load(ebpf.ProgramSpec{Name: "gbench_tcpstate", Type: ebpf.Tracing,
		AttachType: ebpf.AttachTraceRawTp, AttachTo: "inet_sock_set_state"}, 0)
}

// AttachTCPState attaches prog, from TCPState, to its tracepoint: it then
// runs at every state change of every TCP socket of the host.
func AttachTCPState(prog *ebpf.Program) (link.Link, error) {
	l, err := link.AttachTracing(link.TracingOptions{Program: prog, AttachType: ebpf.AttachTraceRawTp})
	if err != nil {
		return nil, fmt.Errorf("attach trivial program to tracepoint inet_sock_set_state: %w", err)
	}
	return l, nil
}

// load loads spec (name, type, attach point) with a body that returns
// ret.
func load(spec ebpf.ProgramSpec, ret int32) (*ebpf.Program, error) {
	spec.License = "Dual BSD/GPL"
	spec.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()}
	prog, err := ebpf.NewProgram(&spec)
	if err != nil {
		return nil, fmt.Errorf("load trivial %v program %s: %w", spec.Type, spec.Name, err)
	}
	return prog, nil
}

// AttachTCX attaches prog at TCX ingress and egress of every interface but
// loopback of the named namespaces (names under /var/run/netns). On error
// it detaches what it attached.
func AttachTCX(prog *ebpf.Program, names []string) ([]link.Link, error) {
	var links []link.Link
	for _, name := range names {
		err := containers.InNetns("/var/run/netns/"+name, func() error {
			ifaces, err := net.Interfaces()
			if err != nil {
				return err
			}
			for _, ifc := range ifaces {
				if ifc.Flags&net.FlagLoopback != 0 {
					continue
				}
				for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
					l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: at})
					if err != nil {
						return fmt.Errorf("%s %v: %w", ifc.Name, at, err)
					}
					links = append(links, l)
				}
			}
			return nil
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("trivial program in %s: %w", name, err), Detach(links))
		}
	}
	return links, nil
}

// Detach closes links.
func Detach(links []link.Link) error {
	var errs []error
	for _, l := range links {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach trivial program: %w", err))
		}
	}
	return errors.Join(errs...)
}
