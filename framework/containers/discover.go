package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// ErrNotFound is wrapped by Resolve's errors for a named namespace or a
// process that does not exist.
var ErrNotFound = errors.New("not found")

// Selector says which network namespaces of this host to watch, as the
// local CLI's --netns, --pid and --all flags do.
type Selector struct {
	// Netns are names of named network namespaces (ip netns list).
	Netns []string
	// PIDs are processes whose network namespace to watch.
	PIDs []int
	// All selects every distinct network namespace of the host.
	All bool
}

// Empty reports whether the selector selects nothing.
func (s Selector) Empty() bool { return len(s.Netns) == 0 && len(s.PIDs) == 0 && !s.All }

// host is the view of the machine discovery reads; tests fake it.
type host struct {
	procRoot   string                            // normally /proc
	netnsRoots []string                          // normally /run/netns, /var/run/netns
	inode      func(path string) (uint64, error) // inode of a namespace file
}

func defaultHost() host {
	return host{procRoot: "/proc", netnsRoots: []string{"/var/run/netns", "/run/netns"}, inode: NetnsInode}
}

// Resolve turns sel into the targets to watch on node (the host name),
// one per distinct network namespace, in a stable order: named namespaces
// and processes in the order given, then (All) the rest sorted by pod
// name. A namespace selected twice keeps the first pod name. Errors name
// the flag and the fix and wrap ErrNotFound for what does not exist.
func Resolve(ctx context.Context, node string, sel Selector) ([]gadget.Target, error) {
	return defaultHost().resolve(ctx, node, sel)
}

func (h host) resolve(ctx context.Context, node string, sel Selector) ([]gadget.Target, error) {
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
		all, err := h.all(ctx, node)
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
	return gadget.Target{ID: fmt.Sprintf("netns:%d", ino), Node: node, Pod: pod, NetnsPath: path, NetnsInode: ino}
}

func (h host) named(node, name string) (gadget.Target, error) {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return gadget.Target{}, fmt.Errorf("--netns %q: not a namespace name; use a name from 'ip netns list'", name)
	}
	for _, root := range h.netnsRoots {
		p := filepath.Join(root, name)
		ino, err := h.inode(p)
		if err == nil {
			return target(node, name, p, ino), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return gadget.Target{}, fmt.Errorf("--netns %s: %w", name, err)
		}
	}
	return gadget.Target{}, fmt.Errorf("--netns %s: no network namespace named %q (see 'ip netns list'): %w", name, name, ErrNotFound)
}

func (h host) process(node string, pid int) (gadget.Target, error) {
	if pid <= 0 {
		return gadget.Target{}, fmt.Errorf("--pid %d: want a positive process ID", pid)
	}
	p := filepath.Join(h.procRoot, strconv.Itoa(pid), "ns", "net")
	ino, err := h.inode(p)
	if errors.Is(err, fs.ErrNotExist) {
		return gadget.Target{}, fmt.Errorf("--pid %d: no such process: %w", pid, ErrNotFound)
	}
	if err != nil {
		return gadget.Target{}, fmt.Errorf("--pid %d: %w", pid, err)
	}
	return target(node, h.comm(pid)+"-"+strconv.Itoa(pid), p, ino), nil
}

func (h host) comm(pid int) string {
	b, err := os.ReadFile(filepath.Join(h.procRoot, strconv.Itoa(pid), "comm"))
	if err != nil {
		return "pid"
	}
	return strings.TrimSpace(string(b))
}

// all lists every distinct network namespace: named ones by name, the
// host's as "host", others by the lowest pid living in them.
// Processes that exit during the scan are skipped.
func (h host) all(ctx context.Context, node string) ([]gadget.Target, error) {
	byIno := map[uint64]gadget.Target{}
	ents, err := os.ReadDir(h.procRoot)
	if err != nil {
		return nil, fmt.Errorf("--all: list processes: %w", err)
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	// The host's namespace is pid 1's; where /proc/1 is hidden (some
	// sandboxes), ours.
	hostIno, err := h.inode(filepath.Join(h.procRoot, "1", "ns", "net"))
	if err != nil {
		hostIno, _ = h.inode(filepath.Join(h.procRoot, "self", "ns", "net"))
	}
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("--all: %w", err)
		}
		p := filepath.Join(h.procRoot, strconv.Itoa(pid), "ns", "net")
		ino, err := h.inode(p)
		if err != nil {
			continue // exited, or a kernel thread without a namespace file
		}
		if _, ok := byIno[ino]; !ok {
			byIno[ino] = target(node, h.comm(pid)+"-"+strconv.Itoa(pid), p, ino)
		}
	}
	if t, ok := byIno[hostIno]; ok && hostIno != 0 {
		t.Pod = "host"
		byIno[hostIno] = t
	}
	named := map[uint64]bool{}
	for _, root := range h.netnsRoots {
		names, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, n := range names {
			p := filepath.Join(root, n.Name())
			ino, err := h.inode(p)
			if err != nil || ino == hostIno || named[ino] {
				continue
			}
			named[ino] = true
			byIno[ino] = target(node, n.Name(), p, ino)
		}
	}
	out := make([]gadget.Target, 0, len(byIno))
	for _, t := range byIno {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out, nil
}

// Watch calls resolve every interval and reports the difference with the
// previous answer: add for targets that appeared, remove for those gone.
// The first call's targets are all added. It returns nil when ctx ends;
// a failing resolve is retried at the next tick and its error is not
// fatal unless it fails on the first call.
func Watch(ctx context.Context, interval time.Duration, resolve func(context.Context) ([]gadget.Target, error),
	add func(gadget.Target), remove func(id string)) error {
	if interval <= 0 {
		return fmt.Errorf("watch targets: interval %v: want a positive duration", interval)
	}
	known := map[string]bool{}
	tick := func() error {
		targets, err := resolve(ctx)
		if err != nil {
			return err
		}
		now := map[string]bool{}
		for _, t := range targets {
			now[t.ID] = true
			if !known[t.ID] {
				add(t)
			}
		}
		var gone []string
		for id := range known {
			if !now[id] {
				gone = append(gone, id)
			}
		}
		sort.Strings(gone)
		for _, id := range gone {
			remove(id)
		}
		known = now
		return nil
	}
	if err := tick(); err != nil {
		return fmt.Errorf("watch targets: %w", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = tick() // a transient failure keeps the previous targets
		}
	}
}
