package networkgraph

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// cgroup2Dir is where attachSockOps mounts the cgroup v2 hierarchy when
// none is mounted (a host with cgroup v1 controllers alone): a private
// folder, unmounted again once the program is attached.
const cgroup2Dir = "/run/gadget"

// attachSockOps attaches prog, a sock_ops program, to the root of the
// cgroup v2 hierarchy: it then runs for the TCP sockets of every process
// (each is in the v2 hierarchy, mounted or not). It uses the mount of the
// hierarchy's root it finds in /proc/self/mountinfo, or mounts the
// hierarchy for as long as it takes to attach (the link holds the cgroup,
// not the mount).
func attachSockOps(prog *ebpf.Program) (link.Link, error) {
	dir, err := cgroup2Root()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return attachSockOpsMounting(prog)
	}
	return attachSockOpsAt(prog, dir)
}

// attachSockOpsMounting mounts the cgroup v2 hierarchy on a private
// folder, attaches prog to its root and unmounts it.
func attachSockOpsMounting(prog *ebpf.Program) (link.Link, error) {
	if err := os.MkdirAll(cgroup2Dir, 0o755); err != nil {
		return nil, fmt.Errorf("mount cgroup2: %w", err)
	}
	tmp, err := os.MkdirTemp(cgroup2Dir, "cgroup2-")
	if err != nil {
		return nil, fmt.Errorf("mount cgroup2: %w", err)
	}
	defer os.Remove(tmp)
	if err := unix.Mount("cgroup2", tmp, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("no cgroup v2 hierarchy mounted, and mounting one on %s failed: %w", tmp, err)
	}
	defer unix.Unmount(tmp, unix.MNT_DETACH)
	return attachSockOpsAt(prog, tmp)
}

// attachSockOpsAt attaches prog to the cgroup dir.
func attachSockOpsAt(prog *ebpf.Program, dir string) (link.Link, error) {
	l, err := link.AttachCgroup(link.CgroupOptions{Path: dir, Attach: ebpf.AttachCGroupSockOps, Program: prog})
	if err != nil {
		return nil, fmt.Errorf("attach sock_ops to the cgroup v2 root %s: %w", dir, err)
	}
	return l, nil
}

// cgroup2Root returns where the root of the cgroup v2 hierarchy (of this
// process's cgroup namespace) is mounted, "" when nowhere.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find the cgroup v2 mount: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, fs := strings.Fields(pre), strings.Fields(post)
		if len(fields) >= 5 && len(fs) >= 1 && fs[0] == "cgroup2" && fields[3] == "/" {
			return unescapeMount(fields[4]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("find the cgroup v2 mount: %w", err)
	}
	return "", nil
}

// unescapeMount undoes the octal escapes of a mount point in mountinfo
// (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
