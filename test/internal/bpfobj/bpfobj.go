// Package bpfobj finds the kernel's eBPF objects (programs, maps, links)
// by ID for the soaks (test/e2e on the simulated node, test/e2enode on a
// real one): which ones a process holds, from /proc, and which ones still
// exist, by walking the kernel's ID lists without opening anything.
package bpfobj

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// IDs are kernel objects by ID: BPF programs, maps and links.
type IDs struct {
	Progs, Maps, Links map[uint32]bool
}

// New returns an empty set.
func New() IDs {
	return IDs{Progs: map[uint32]bool{}, Maps: map[uint32]bool{}, Links: map[uint32]bool{}}
}

// Count is the number of objects.
func (b IDs) Count() int { return len(b.Progs) + len(b.Maps) + len(b.Links) }

func (b IDs) String() string {
	return fmt.Sprintf("%d programs, %d maps, %d links", len(b.Progs), len(b.Maps), len(b.Links))
}

func (b *IDs) init() {
	if b.Progs == nil {
		*b = New()
	}
}

// Add adds o's objects to b.
func (b *IDs) Add(o IDs) {
	b.init()
	for id := range o.Progs {
		b.Progs[id] = true
	}
	for id := range o.Maps {
		b.Maps[id] = true
	}
	for id := range o.Links {
		b.Links[id] = true
	}
}

// Minus returns the objects of b that are not in o.
func (b IDs) Minus(o IDs) IDs {
	out := New()
	for id := range b.Progs {
		if !o.Progs[id] {
			out.Progs[id] = true
		}
	}
	for id := range b.Maps {
		if !o.Maps[id] {
			out.Maps[id] = true
		}
	}
	for id := range b.Links {
		if !o.Links[id] {
			out.Links[id] = true
		}
	}
	return out
}

// All returns every eBPF object the kernel holds, walking its ID lists
// only (see Alive).
func All() (IDs, error) {
	out := New()
	var errs []error
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			break
		}
		id = next
		out.Progs[uint32(id)] = true
	}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			break
		}
		id = next
		out.Maps[uint32(id)] = true
	}
	// Links: opening one by ID is harmless (a link has no user
	// references of its own); the iterator opens each to read its ID.
	it := new(link.Iterator)
	for it.Next() {
		out.Links[uint32(it.ID)] = true
	}
	if err := it.Err(); err != nil {
		errs = append(errs, err)
	}
	it.Close()
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("list the kernel's eBPF objects: %w", err)
	}
	return out, nil
}

// Alive returns the objects of b that still exist in the kernel. IDs are
// allocated cyclically, so an ID is not reused while a soak runs.
//
// It only walks the kernel's ID lists and never opens an object by ID: a
// file descriptor of a dying map would change what it measures. Linux
// (6.18 here) frees a ProgramArray in two steps: when its last user
// reference goes (the agent is killed), prog_array_map_clear takes a map
// reference and schedules a work item that clears the array and puts that
// reference back. Opening the map by ID meanwhile adds a user reference
// and closing it drops the last one again: a second clear takes a second
// reference, but its schedule_work finds the first work still pending and
// queues nothing, so that reference is never put and the map stays in the
// kernel for good, held by nothing (no program, no process, no pin). A
// probe that opened every held map right after each kill left
// network-graph's 'entry' map behind in 2 of 7 soaks; a loop that empties
// a ProgramArray and reopens it by ID leaves it behind in 3 of 5 tries,
// and in 0 of 10 without the reopening. bpftool map show, run at the same
// moment, does the same.
func (b IDs) Alive() (IDs, error) {
	all, err := All()
	out := New()
	for id := range b.Progs {
		if all.Progs[id] {
			out.Progs[id] = true
		}
	}
	for id := range b.Maps {
		if all.Maps[id] {
			out.Maps[id] = true
		}
	}
	for id := range b.Links {
		if all.Links[id] {
			out.Links[id] = true
		}
	}
	return out, err
}

// Describe says what each object of b is and which processes hold it,
// for a failure message (bpftool shows more: bpftool map show id ID). It
// opens the objects by ID: call it only once they have settled.
func (b IDs) Describe() string {
	var out []string
	for id := range b.Progs {
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
			if info, err := p.Info(); err == nil {
				out = append(out, fmt.Sprintf("program %d %s (%s), held by %s", id, info.Name, info.Type, Holders("prog_id:", id)))
			}
			p.Close()
		}
	}
	for id := range b.Maps {
		if m, err := ebpf.NewMapFromID(ebpf.MapID(id)); err == nil {
			if info, err := m.Info(); err == nil {
				out = append(out, fmt.Sprintf("map %d %s (%s), held by %s", id, info.Name, info.Type, Holders("map_id:", id)))
			}
			m.Close()
		}
	}
	for id := range b.Links {
		out = append(out, fmt.Sprintf("link %d, held by %s", id, Holders("link_id:", id)))
	}
	return strings.Join(out, "; ")
}

// Holders lists the processes with a file descriptor whose fdinfo has
// key with id, e.g. "map_id:" 12.
func Holders(key string, id uint32) string {
	var out []string
	procs, _ := os.ReadDir("/proc")
	want := fmt.Sprintf("%s\t%d\n", key, id)
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
		for _, fd := range fds {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
			if err == nil && strings.Contains(string(b), want) {
				comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
				out = append(out, fmt.Sprintf("%s (pid %d, fd %s)", strings.TrimSpace(string(comm)), pid, fd.Name()))
			}
		}
	}
	if len(out) == 0 {
		return "no process (the kernel: a program, a socket or a pending free)"
	}
	return strings.Join(out, ", ")
}

// Held returns the kernel objects the process pid holds a file
// descriptor of, from /proc/PID/fdinfo.
func Held(pid int) (IDs, error) {
	out := New()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out, fmt.Errorf("file descriptors of process %d: %w", pid, err)
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		var key string
		var into map[uint32]bool
		switch target {
		case "anon_inode:bpf-prog":
			key, into = "prog_id:", out.Progs
		case "anon_inode:bpf-map":
			key, into = "map_id:", out.Maps
		case "anon_inode:bpf_link":
			key, into = "link_id:", out.Links
		default:
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(info)) {
			if v, ok := strings.CutPrefix(line, key); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					into[uint32(id)] = true
				}
			}
		}
	}
	return out, nil
}

// HeldByAny returns the objects any process but the excluded ones holds
// a file descriptor of, from /proc/PID/fdinfo.
func HeldByAny(exclude ...int) IDs {
	out := New()
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() || slices.Contains(exclude, pid) {
			continue
		}
		if held, err := Held(pid); err == nil {
			out.Add(held)
		}
	}
	return out
}
