package networkgraph

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/gadgetkit/gadget/framework/containers"
)

// cgroup2Dir is where attachSockOps mounts the cgroup v2 hierarchy when
// it has to (no v2 mount on the host, or gadgetd in a cgroup namespace of
// its own): a private folder, unmounted again once the program is
// attached. Where /run is read only (gadgetd's root file system), the
// temporary folder is used.
const cgroup2Dir = "/run/gadget"

// attachSockOps attaches prog, a sock_ops program, to the root of the
// host's cgroup v2 hierarchy: it then runs for the TCP sockets of every
// process of the node (each is in the v2 hierarchy, mounted or not). The
// root is found, or mounted for as long as it takes to attach (the link
// holds the cgroup, not the mount), by containers.HostCgroup2Root, which
// also handles a pod's own cgroup namespace.
func attachSockOps(prog *ebpf.Program) (link.Link, error) {
	return attachSockOpsWith(prog, containers.HostCgroup2Root)
}

// attachSockOpsWith attaches prog to the root find returns, given the
// folder to mount under, and releases the root.
func attachSockOpsWith(prog *ebpf.Program, find func(dir string) (*containers.Cgroup2Root, error)) (link.Link, error) {
	dir := cgroup2Dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = ""
	}
	root, err := find(dir)
	if err != nil {
		return nil, err
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: root.Path, Attach: ebpf.AttachCGroupSockOps, Program: prog})
	if err != nil {
		err = fmt.Errorf("attach sock_ops to the cgroup v2 root %s: %w", root.Path, err)
	}
	if cerr := root.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		if l != nil {
			l.Close()
		}
		return nil, err
	}
	return l, nil
}
