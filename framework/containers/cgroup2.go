package containers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroup2Root is the root of the node's cgroup v2 hierarchy, where a
// cgroup eBPF program (sock_ops, for one) sees the sockets of every
// process of the node, pods included. Close releases it.
type Cgroup2Root struct {
	// Path is the directory of the root cgroup.
	Path string
	// Mounted is true when HostCgroup2Root mounted the hierarchy itself
	// (the node has no cgroup v2 mount, or the caller runs in a cgroup
	// namespace of its own); Close then unmounts it.
	Mounted bool
}

// initCgroupNSInode is the inode of the initial cgroup namespace, the
// host's (PROC_CGROUP_INIT_INO, fixed by the kernel since Linux 4.6).
const initCgroupNSInode = 0xEFFFFFFB

// HostCgroup2Root returns the root of the host's cgroup v2 hierarchy.
//
// When the caller is in the host's (the initial) cgroup namespace and the
// hierarchy is mounted, that mount is used. Otherwise the hierarchy is
// mounted on a new directory under dir (os.TempDir() when empty), from a
// thread that has joined the host's cgroup namespace if the caller is in
// one of its own, so that the mount's root is the host's root cgroup: a
// container's cgroup namespace (cgroupns=private, the default on cgroup
// v2 nodes) would show only the container's cgroup, and a sock_ops
// program attached there would see none of the pods. The host's
// namespace is joined through a process of /proc that is in it, so a
// container needs hostPID. A cgroup v1 node (no v2 mount) still has the
// v2 hierarchy, with every process in its root.
//
// It needs CAP_SYS_ADMIN to mount and to join the namespace, and
// CAP_SYS_PTRACE to open another process's namespace; the errors say
// which step failed.
func HostCgroup2Root(dir string) (*Cgroup2Root, error) {
	own, err := nsInode("/proc/self/ns/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 root: %w", err)
	}
	inHost := own == initCgroupNSInode
	if inHost {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return nil, fmt.Errorf("cgroup v2 root: %w", err)
		}
		p, err := cgroup2MountPoint(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cgroup v2 root: read /proc/self/mountinfo: %w", err)
		}
		if p != "" {
			return &Cgroup2Root{Path: p}, nil
		}
	}
	return MountHostCgroup2(dir)
}

// MountHostCgroup2 mounts the host's cgroup v2 hierarchy on a new
// directory under dir (os.TempDir() when empty), whether or not it is
// mounted elsewhere, from the host's cgroup namespace if the caller is in
// one of its own. Close unmounts it. HostCgroup2Root calls it when there
// is no mount to reuse.
func MountHostCgroup2(dir string) (*Cgroup2Root, error) {
	own, err := nsInode("/proc/self/ns/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 root: %w", err)
	}
	if dir == "" {
		dir = os.TempDir()
	}
	mnt, err := os.MkdirTemp(dir, "gadget-cgroup2-")
	if err != nil {
		return nil, fmt.Errorf("cgroup v2 root: directory to mount it on: %w", err)
	}
	if err := mountHostCgroup2(mnt, own != initCgroupNSInode); err != nil {
		os.Remove(mnt)
		return nil, fmt.Errorf("cgroup v2 root: %w", err)
	}
	return &Cgroup2Root{Path: mnt, Mounted: true}, nil
}

// openHostCgroupNS opens the cgroup namespace file of a process of /proc
// that is in the host's cgroup namespace. PID 1 may not do: where it holds
// capabilities the caller lacks, its namespaces are hidden from the caller
// (a ptrace access check), so every process is tried in turn.
func openHostCgroupNS() (*os.File, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		path := "/proc/" + p.Name() + "/ns/cgroup"
		if ino, err := nsInode(path); err != nil || ino != initCgroupNSInode {
			continue
		}
		if f, err := os.Open(path); err == nil {
			return f, nil
		}
	}
	return nil, errors.New("no process of /proc is in the host's cgroup namespace, or none can be opened: " +
		"in a container, run with hostPID and CAP_SYS_PTRACE")
}

// Close unmounts the hierarchy if HostCgroup2Root mounted it and removes
// its directory. Programs attached through a link stay attached: the
// link holds the cgroup, not the mount.
func (r *Cgroup2Root) Close() error {
	if r == nil || !r.Mounted {
		return nil
	}
	r.Mounted = false
	if err := unix.Unmount(r.Path, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount cgroup v2 at %s: %w", r.Path, err)
	}
	if err := os.Remove(r.Path); err != nil {
		return fmt.Errorf("remove %s: %w", r.Path, err)
	}
	return nil
}

// mountHostCgroup2 mounts the cgroup v2 hierarchy on mnt, from the host's
// cgroup namespace when joinHost is set. The mount is in the process's
// mount namespace, which every thread shares; the thread that joined the
// other cgroup namespace is never reused (it stays locked and ends with
// its goroutine).
func mountHostCgroup2(mnt string, joinHost bool) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if joinHost {
			ns, err := openHostCgroupNS()
			if err != nil {
				errc <- err
				return
			}
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWCGROUP)
			ns.Close()
			if err != nil {
				errc <- fmt.Errorf("join the host's cgroup namespace (needs CAP_SYS_ADMIN): %w", err)
				return
			}
		}
		if err := unix.Mount("cgroup2", mnt, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			errc <- fmt.Errorf("mount cgroup2 on %s (needs CAP_SYS_ADMIN): %w", mnt, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// cgroup2MountPoint returns the mount point of the first cgroup v2 mount
// of mountinfo whose root is the hierarchy's root, or "" if there is none.
func cgroup2MountPoint(mountinfo io.Reader) (string, error) {
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID parent major:minor root mount-point options [optional...] - fstype source super-options
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if fields[sep+1] == "cgroup2" && fields[3] == "/" {
			return unescapeMountinfo(fields[4]), nil
		}
	}
	return "", sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of a
// path in /proc/PID/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// nsInode returns the inode of the namespace file at path.
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return 0, fmt.Errorf("stat %s (needs CAP_SYS_PTRACE for another process's namespace): %w", path, err)
		}
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}
