// Package containers finds what a trace can watch on this node: network
// namespaces by name, processes, every distinct network namespace of the
// host, and (on Kubernetes) the pods of this node.
package containers

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on an OS thread that has joined the network namespace
// at path, then moves the thread back. Sockets created by fn stay in that
// namespace. If the thread cannot be moved back it is left locked, so the
// Go runtime discards it rather than reuse it in the wrong namespace.
func InNetns(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	// A fresh goroutine keeps the caller's thread untouched even if
	// restoring fails and this thread has to be thrown away.
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("return from network namespace %s: %w", path, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// errNotNamespace is wrapped by NetnsInode for a path that exists but is
// not a namespace, e.g. a name in /run/netns left behind by a reboot.
var errNotNamespace = errors.New("not a namespace file")

// NetnsInode returns the inode number of the network namespace at path
// (/proc/PID/ns/net, /var/run/netns/NAME), which identifies the namespace
// on this host. It costs two system calls. It fails for a path that is not
// on the namespace file system, such as a stale /run/netns entry; a
// missing path gives an error wrapping fs.ErrNotExist, and one hidden from
// the caller (another user's process) fs.ErrPermission.
func NetnsInode(path string) (uint64, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	if uint64(sfs.Type) != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("network namespace %s: %w", path, errNotNamespace)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	return st.Ino, nil
}

// nsfsDev returns the device of the namespace file system, which every
// namespace file is on, from our own network namespace's file.
func nsfsDev(procRoot string) (uint64, error) {
	path := procRoot + "/self/ns/net"
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if uint64(sfs.Type) != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%s: %w", path, errNotNamespace)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Dev, nil
}

// netnsInodeOn is NetnsInode in one system call, given the namespace file
// system's device (nsfsDev): a file on another device is no namespace.
func netnsInodeOn(dev uint64, path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat network namespace %s: %w", path, err)
	}
	if st.Dev != dev {
		return 0, fmt.Errorf("network namespace %s: %w", path, errNotNamespace)
	}
	return st.Ino, nil
}
