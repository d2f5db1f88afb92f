package containers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// ErrNotFound is wrapped by Resolve's errors for a named network namespace
// or a process that does not exist: the user's mistake, not the machine's.
var ErrNotFound = errors.New("not found")

// ErrBadTarget is wrapped by every Resolve error about a target as the
// selector names it, which the user fixes by changing the selection: a
// name or process that does not exist (those wrap ErrNotFound too), a
// name that cannot be one (a path, too long) and a namespace this process
// may not open. Errors of the machine itself (reading /proc fails) do not
// wrap it.
var ErrBadTarget = errors.New("bad target")

// nameMax is the longest file name, so the longest name of a named
// network namespace (NAME_MAX).
const nameMax = 255

// badTarget is an error about a selected target: its text is msg alone,
// and it wraps ErrBadTarget and the causes.
type badTarget struct {
	msg    string
	causes []error
}

func (e *badTarget) Error() string   { return e.msg }
func (e *badTarget) Unwrap() []error { return append([]error{ErrBadTarget}, e.causes...) }

// badTargetf returns a badTarget with the message of format and args,
// wrapping the errors among args (for %v as for %w).
func badTargetf(format string, args ...any) error {
	var causes []error
	for _, a := range args {
		if err, ok := a.(error); ok {
			causes = append(causes, err)
		}
	}
	return &badTarget{msg: fmt.Sprintf(format, args...), causes: causes}
}

// HostPod is the pod name Resolve gives the host's own network namespace.
const HostPod = "host"

// Selector says which network namespaces of this host to watch, as the
// local CLI's --netns, --pid and --all flags do. The zero Selector selects
// nothing.
type Selector struct {
	// Netns are names of named network namespaces (ip netns list).
	Netns []string
	// PIDs are processes whose network namespace to watch.
	PIDs []int
	// All selects every distinct network namespace of the host.
	All bool
}

// host is the view of the machine discovery reads; tests fake it.
type host struct {
	procRoot   string   // normally /proc
	netnsRoots []string // normally /var/run/netns then /run/netns
	// inode returns the inode of a namespace file; errors wrap
	// fs.ErrNotExist when it is gone and errNotNamespace when the file is
	// not a namespace.
	inode func(path string) (uint64, error)
	// euid is this process's effective user ID, for hints that must be
	// true ("run as root" only when it does not).
	euid func() int
}

func defaultHost() host {
	h := host{procRoot: "/proc", netnsRoots: distinctDirs("/var/run/netns", "/run/netns"), inode: NetnsInode, euid: os.Geteuid}
	// One stat per file instead of NetnsInode's two, where the namespace
	// file system's device is known: --all looks at every named namespace
	// on every rescan.
	if dev, err := nsfsDev(h.procRoot); err == nil {
		h.inode = func(path string) (uint64, error) { return netnsInodeOn(dev, path) }
	}
	return h
}

// distinctDirs returns dirs without those that are an earlier one under
// another path (/var/run is usually a link to /run). Missing folders are
// kept: they may appear later.
func distinctDirs(dirs ...string) []string {
	var out []string
	var seen []os.FileInfo
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err == nil && slices.ContainsFunc(seen, func(s os.FileInfo) bool { return os.SameFile(s, fi) }) {
			continue
		}
		if err == nil {
			seen = append(seen, fi)
		}
		out = append(out, d)
	}
	return out
}

// Resolve turns sel into the targets to watch on node (the host name), one
// per distinct network namespace, with ID "netns:<inode>":
//
//   - a name from sel.Netns gives NetnsPath /var/run/netns/NAME (or
//     /run/netns/NAME) and Pod NAME;
//   - a process from sel.PIDs gives /proc/PID/ns/net and Pod <comm>-<pid>;
//   - sel.All gives every network namespace in use on the host: named ones
//     by their name, the host's own (pid 1's) as HostPod, any other by the
//     lowest process in it. Processes that exit during the scan are skipped.
//
// The order is stable: sel.Netns and sel.PIDs as given, then the rest of
// All sorted by Pod. A namespace selected twice is returned once, under the
// first name it was selected by. Resolve reads /proc and the netns
// directories, a few system calls per process; it blocks on nothing but
// checks ctx between processes. Its errors are one line naming the flag and
// the fix; those for a name or process that does not exist wrap
// ErrNotFound.
func Resolve(ctx context.Context, node string, sel Selector) ([]gadget.Target, error) {
	return defaultHost().resolve(ctx, node, sel, true)
}

// ResolveNamed is Resolve without the scan of every process that sel.All
// takes: sel.All gives only the named network namespaces, the others are
// left out. A namespace it returns is one Resolve returns too, under the
// same Pod and NetnsPath. With hundreds of processes it is several times
// cheaper than Resolve: WatchNamed calls it when a name appears.
func ResolveNamed(ctx context.Context, node string, sel Selector) ([]gadget.Target, error) {
	return defaultHost().resolve(ctx, node, sel, false)
}

// resolve is Resolve, and with processes false ResolveNamed.
func (h host) resolve(ctx context.Context, node string, sel Selector, processes bool) ([]gadget.Target, error) {
	var out []gadget.Target
	seen := map[uint64]bool{}
	add := func(t gadget.Target) {
		if !seen[t.NetnsInode] {
			seen[t.NetnsInode] = true
			out = append(out, t)
		}
	}
	for _, name := range sel.Netns {
		t, err := h.named(node, name)
		if err != nil {
			return nil, err
		}
		add(t)
	}
	for _, pid := range sel.PIDs {
		t, err := h.process(node, pid)
		if err != nil {
			return nil, err
		}
		add(t)
	}
	if sel.All {
		all, err := h.all(ctx, node, processes)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			add(t)
		}
	}
	return out, nil
}

func target(node, pod, path string, ino uint64) gadget.Target {
	return gadget.Target{
		ID:         "netns:" + strconv.FormatUint(ino, 10),
		Node:       node,
		Pod:        pod,
		NetnsPath:  path,
		NetnsInode: ino,
	}
}

func (h host) named(node, name string) (gadget.Target, error) {
	if pid, ok := procNetnsPID(name); ok {
		return gadget.Target{}, badTargetf("--netns %q: takes a name from 'ip netns list', not a path: for the network namespace of process %d use --pid %d", name, pid, pid)
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return gadget.Target{}, badTargetf("--netns %q: not a namespace name: use a name from 'ip netns list'", name)
	}
	if len(name) > nameMax {
		return gadget.Target{}, badTargetf("--netns %.20s…: a name of %d bytes, longer than any file name (%d): use a name from 'ip netns list'", name, len(name), nameMax)
	}
	for _, root := range h.netnsRoots {
		p := filepath.Join(root, name)
		ino, err := h.inode(p)
		switch {
		case err == nil:
			return target(node, name, p, ino), nil
		case errors.Is(err, errNotNamespace):
			return gadget.Target{}, badTargetf("--netns %s: %s is a stale name, not a mounted network namespace (remove it with 'ip netns del %s'): %v",
				name, p, name, ErrNotFound)
		case errors.Is(err, fs.ErrPermission):
			return gadget.Target{}, badTargetf("--netns %s: %v: %s", name, err, h.permissionHint("the namespace file"))
		case !errors.Is(err, fs.ErrNotExist):
			return gadget.Target{}, fmt.Errorf("--netns %s: %w", name, err)
		}
	}
	return gadget.Target{}, badTargetf("--netns %s: no network namespace named %q (see 'ip netns list'): %v", name, name, ErrNotFound)
}

// procNetnsPID recognises /proc/PID/ns/net, which users pass to --netns.
func procNetnsPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(filepath.Clean(name), "/proc/")
	if !ok {
		return 0, false
	}
	pidText, ok := strings.CutSuffix(rest, "/ns/net")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	return pid, err == nil && pid > 0
}

// permissionHint says why access to what was denied and what to do: run
// as root, unless this process is root already, when root is not enough.
func (h host) permissionHint(what string) string {
	if h.euid == nil || h.euid() != 0 {
		return "run as root"
	}
	return "gadget runs as root, yet the kernel's ptrace access check refused " + what +
		" (a security module such as AppArmor, SELinux or Landlock, a sandbox, or another user namespace); choose another target"
}

func (h host) process(node string, pid int) (gadget.Target, error) {
	if pid <= 0 {
		return gadget.Target{}, badTargetf("--pid %d: not a process ID: use a positive number, e.g. from pgrep", pid)
	}
	p := h.procNetns(pid)
	ino, err := h.inode(p)
	if err == nil {
		var comm string
		if comm, err = h.comm(pid); err == nil {
			return target(node, comm+"-"+strconv.Itoa(pid), p, ino), nil
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotNamespace):
		return gadget.Target{}, badTargetf("--pid %d: no such process: %v", pid, ErrNotFound)
	case errors.Is(err, fs.ErrPermission):
		return gadget.Target{}, badTargetf("--pid %d: %v: %s", pid, err, h.permissionHint("its namespace"))
	default:
		return gadget.Target{}, fmt.Errorf("--pid %d: %w", pid, err)
	}
}

func (h host) procNetns(pid int) string {
	return filepath.Join(h.procRoot, strconv.Itoa(pid), "ns", "net")
}

// comm returns the command name of pid; it fails once the process is gone.
func (h host) comm(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(h.procRoot, strconv.Itoa(pid), "comm"))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// all lists every distinct network namespace in use, sorted by Pod; with
// processes false only the named ones (but the host's).
func (h host) all(ctx context.Context, node string, processes bool) ([]gadget.Target, error) {
	var pids []int
	if processes {
		ents, err := os.ReadDir(h.procRoot)
		if err != nil {
			return nil, fmt.Errorf("--all: list processes: %w", err)
		}
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		slices.Sort(pids)
	}

	// The host's namespace is pid 1's. Where /proc/1 cannot be read (some
	// sandboxes hide it even from root) it is taken to be our own.
	hostIno, err := h.inode(h.procNetns(1))
	if err != nil {
		hostIno, _ = h.inode(filepath.Join(h.procRoot, "self", "ns", "net"))
	}

	byIno := map[uint64]gadget.Target{}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("--all: %w", err)
		}
		p := h.procNetns(pid)
		ino, err := h.inode(p)
		if err != nil {
			continue // exited, or hidden from us
		}
		if _, ok := byIno[ino]; ok {
			continue
		}
		comm, err := h.comm(pid)
		if err != nil {
			continue // exited after the stat: the next process may name it
		}
		byIno[ino] = target(node, comm+"-"+strconv.Itoa(pid), p, ino)
	}
	if t, ok := byIno[hostIno]; ok {
		t.Pod = HostPod
		byIno[hostIno] = t
	}

	// A name beats a process: it outlives the process and is what the
	// user typed. The host keeps HostPod; for a namespace with several
	// names the first root and the first name in sorted order win.
	named := map[uint64]bool{}
	for _, root := range h.netnsRoots {
		names, err := os.ReadDir(root)
		if err != nil {
			continue // no named namespaces
		}
		for _, n := range names {
			p := filepath.Join(root, n.Name())
			ino, err := h.inode(p)
			if err != nil || ino == hostIno || named[ino] {
				continue // stale name, or already named
			}
			named[ino] = true
			byIno[ino] = target(node, n.Name(), p, ino)
		}
	}

	out := make([]gadget.Target, 0, len(byIno))
	for _, t := range byIno {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b gadget.Target) int {
		return cmp.Or(strings.Compare(a.Pod, b.Pod), cmp.Compare(a.NetnsInode, b.NetnsInode))
	})
	return out, nil
}
