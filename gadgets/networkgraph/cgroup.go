package networkgraph

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
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
//
// In a cgroup namespace of its own (a container's, on a cgroup v2 node),
// the root a mount shows is the container's cgroup, whose programs see
// the container's sockets alone. With the host's processes in view
// (hostPID), it then mounts from a thread in the cgroup namespace of
// process 1, the node's root; the thread is not reused.
func attachSockOps(prog *ebpf.Program) (link.Link, error) {
	if ns := initCgroupNS(); ns != "" {
		return attachSockOpsMounting(prog, ns)
	}
	dir, err := cgroup2Root()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return attachSockOpsMounting(prog, "")
	}
	return attachSockOpsAt(prog, dir)
}

// initCgroupNS returns /proc/1/ns/cgroup when process 1 is in another
// cgroup namespace than this process, "" when in the same one or when it
// cannot tell (no host PIDs in view, no permission).
func initCgroupNS() string {
	const initNS = "/proc/1/ns/cgroup"
	var self, init unix.Stat_t
	if unix.Stat("/proc/self/ns/cgroup", &self) != nil || unix.Stat(initNS, &init) != nil {
		return ""
	}
	if self.Ino == init.Ino && self.Dev == init.Dev {
		return ""
	}
	return initNS
}

// attachSockOpsMounting mounts the cgroup v2 hierarchy on a private
// folder (under /run/gadget, or the temporary folder where that is read
// only), attaches prog to its root and unmounts it. With cgroupNS set, the
// mount is made from a thread in that cgroup namespace, whose root it
// then shows.
func attachSockOpsMounting(prog *ebpf.Program, cgroupNS string) (link.Link, error) {
	parent := cgroup2Dir
	if err := os.MkdirAll(parent, 0o755); err != nil {
		parent = os.TempDir()
	}
	tmp, err := os.MkdirTemp(parent, "cgroup2-")
	if err != nil {
		return nil, fmt.Errorf("mount cgroup2: %w", err)
	}
	defer os.Remove(tmp)
	if err := mountCgroup2(tmp, cgroupNS); err != nil {
		return nil, err
	}
	defer unix.Unmount(tmp, unix.MNT_DETACH)
	return attachSockOpsAt(prog, tmp)
}

// mountCgroup2 mounts the cgroup v2 hierarchy on dir, from a thread in the
// cgroup namespace cgroupNS when set.
func mountCgroup2(dir, cgroupNS string) error {
	mount := func() error {
		if err := unix.Mount("cgroup2", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("no cgroup v2 hierarchy mounted, and mounting one on %s failed: %w", dir, err)
		}
		return nil
	}
	if cgroupNS == "" {
		return mount()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, in another cgroup namespace,
		// ends with this goroutine.
		runtime.LockOSThread()
		f, err := os.Open(cgroupNS)
		if err != nil {
			errc <- fmt.Errorf("open the node's cgroup namespace: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWCGROUP); err != nil {
			errc <- fmt.Errorf("enter the node's cgroup namespace %s: %w", cgroupNS, err)
			return
		}
		errc <- mount()
	}()
	return <-errc
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
