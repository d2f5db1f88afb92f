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
	return named("gbench_trivial", typ, ret)
}

// SockOps loads a sock_ops program, named gbench_sockops, that returns 1
// (nothing changed) at every callback.
func SockOps() (*ebpf.Program, error) {
	return named("gbench_sockops", ebpf.SockOps, 1)
}

func named(name string, typ ebpf.ProgramType, ret int32) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         name,
		Type:         typ,
		License:      "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
	if err != nil {
		return nil, fmt.Errorf("load trivial %v program: %w", typ, err)
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

// AttachSockOps attaches prog, a sock_ops program, to the host's cgroup v2
// root (where network-graph's attach=socket attaches its own), so it runs
// at the callbacks of every TCP socket of the host.
func AttachSockOps(prog *ebpf.Program) (link.Link, error) {
	root, err := containers.HostCgroup2Root("")
	if err != nil {
		return nil, fmt.Errorf("trivial sock_ops program: %w", err)
	}
	defer root.Close()
	l, err := link.AttachCgroup(link.CgroupOptions{Path: root.Path, Attach: ebpf.AttachCGroupSockOps, Program: prog})
	if err != nil {
		return nil, fmt.Errorf("attach trivial sock_ops program to %s: %w", root.Path, err)
	}
	return l, nil
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
