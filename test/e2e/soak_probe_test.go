//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// bpfIDs are kernel objects by ID: BPF programs, maps and links.
type bpfIDs struct {
	progs, maps, links map[uint32]bool
}

func (b bpfIDs) count() int { return len(b.progs) + len(b.maps) + len(b.links) }

func (b bpfIDs) String() string {
	return fmt.Sprintf("%d programs, %d maps, %d links", len(b.progs), len(b.maps), len(b.links))
}

func (b *bpfIDs) init() {
	if b.progs == nil {
		b.progs, b.maps, b.links = map[uint32]bool{}, map[uint32]bool{}, map[uint32]bool{}
	}
}

func (b *bpfIDs) add(o bpfIDs) {
	b.init()
	for id := range o.progs {
		b.progs[id] = true
	}
	for id := range o.maps {
		b.maps[id] = true
	}
	for id := range o.links {
		b.links[id] = true
	}
}

// minus returns the objects of b that are not in o.
func (b bpfIDs) minus(o bpfIDs) bpfIDs {
	var out bpfIDs
	out.init()
	for id := range b.progs {
		if !o.progs[id] {
			out.progs[id] = true
		}
	}
	for id := range b.maps {
		if !o.maps[id] {
			out.maps[id] = true
		}
	}
	for id := range b.links {
		if !o.links[id] {
			out.links[id] = true
		}
	}
	return out
}

// alive returns the objects of b that still exist in the kernel. IDs are
// allocated cyclically, so an ID is not reused while the soak runs.
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
// kernel for good, held by nothing (no program, no process, no pin). This
// probe, which opened every held map right after each kill, left
// network-graph's 'entry' map behind in 2 of 7 soaks; a loop that empties
// a ProgramArray and reopens it by ID leaves it behind in 3 of 5 tries,
// and in 0 of 10 without the reopening. bpftool map show, run at the same
// moment, does the same.
func (b bpfIDs) alive() (bpfIDs, error) {
	var out bpfIDs
	out.init()
	var errs []error
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			break
		}
		if id = next; b.progs[uint32(id)] {
			out.progs[uint32(id)] = true
		}
	}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			break
		}
		if id = next; b.maps[uint32(id)] {
			out.maps[uint32(id)] = true
		}
	}
	// Links: opening one by ID is harmless (a link has no user
	// references of its own); the iterator opens each to read its ID.
	it := new(link.Iterator)
	for it.Next() {
		if b.links[uint32(it.ID)] {
			out.links[uint32(it.ID)] = true
		}
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

// describe says what each object of b is and which processes hold it,
// for a failure message (bpftool shows more: bpftool map show id ID).
func (b bpfIDs) describe() string {
	var out []string
	for id := range b.progs {
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id)); err == nil {
			if info, err := p.Info(); err == nil {
				out = append(out, fmt.Sprintf("program %d %s (%s), held by %s", id, info.Name, info.Type, holders("prog_id:", id)))
			}
			p.Close()
		}
	}
	for id := range b.maps {
		if m, err := ebpf.NewMapFromID(ebpf.MapID(id)); err == nil {
			if info, err := m.Info(); err == nil {
				out = append(out, fmt.Sprintf("map %d %s (%s), held by %s", id, info.Name, info.Type, holders("map_id:", id)))
			}
			m.Close()
		}
	}
	for id := range b.links {
		out = append(out, fmt.Sprintf("link %d, held by %s", id, holders("link_id:", id)))
	}
	return strings.Join(out, "; ")
}

// holders lists the processes with a file descriptor whose fdinfo has
// key with id, e.g. "map_id:" 12.
func holders(key string, id uint32) string {
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

// heldBPF returns the kernel objects the process pid holds a file
// descriptor of, from /proc/PID/fdinfo.
func heldBPF(pid int) (bpfIDs, error) {
	var out bpfIDs
	out.init()
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
			key, into = "prog_id:", out.progs
		case "anon_inode:bpf-map":
			key, into = "map_id:", out.maps
		case "anon_inode:bpf_link":
			key, into = "link_id:", out.links
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

// fdsOf returns how many file descriptors pid has open and those that are
// network namespaces.
func fdsOf(pid int) (n int, netns []string) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "net:[") {
			netns = append(netns, target)
		}
	}
	return len(ents), netns
}

// threadsOutside returns pid's number of threads and those whose network
// namespace is not netns.
func threadsOutside(pid int, netns string) (n int, outside []string) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if ns, err := os.Readlink(filepath.Join(dir, e.Name(), "ns", "net")); err == nil && ns != netns {
			outside = append(outside, "thread "+e.Name()+" in "+ns)
		}
	}
	return len(ents), outside
}

// rssOf returns the resident memory of pid in bytes, 0 when it is gone.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// queryTCX returns the IDs of the TCX programs of the interface ifindex
// of the calling thread's network namespace.
func queryTCX(ifindex int, ingress bool) ([]uint32, error) {
	at := ebpf.AttachTCXEgress
	if ingress {
		at = ebpf.AttachTCXIngress
	}
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: at})
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, p := range res.Programs {
		ids = append(ids, uint32(p.ID))
	}
	return ids, nil
}

// soakMetrics are the figures of gadgetd's Prometheus endpoint the soak
// follows.
type soakMetrics struct {
	goroutines int
	heapLive   float64
}

var metricsClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// scrapeMetrics reads the goroutines and the live heap (after the last
// GC; the heap in use when the runtime does not export that) of the agent
// whose metrics listen on addr.
func scrapeMetrics(addr string) (soakMetrics, error) {
	var m soakMetrics
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("metrics: %s", resp.Status)
	}
	var inuse float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			m.goroutines = int(f)
		case "go_gc_heap_live_bytes":
			m.heapLive = f
		case "go_memstats_heap_inuse_bytes":
			inuse = f
		}
	}
	if m.heapLive == 0 {
		m.heapLive = inuse
	}
	if m.goroutines == 0 {
		return m, errors.New("metrics: no go_goroutines")
	}
	return m, sc.Err()
}

// soakSampler samples the agent's RSS and goroutines every second.
type soakSampler struct {
	s       *soak
	mu      sync.Mutex
	samples []soakSample
	cancel  context.CancelFunc
	done    chan struct{}
}

type soakSample struct {
	at         time.Time
	pid        int
	rss        int64
	goroutines int
	heapLive   float64
}

func newSoakSampler(s *soak) *soakSampler { return &soakSampler{s: s} }

func (p *soakSampler) start() {
	ctx, cancel := context.WithCancel(p.s.ctx)
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			p.sampleNow()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (p *soakSampler) stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

// sampleNow takes one sample of the current agent, if it runs.
func (p *soakSampler) sampleNow() {
	pid := int(p.s.pid.Load())
	smp := soakSample{at: time.Now(), pid: pid, rss: rssOf(pid)}
	if smp.rss == 0 {
		return
	}
	if m, err := scrapeMetrics(p.s.metricsAddr); err == nil {
		smp.goroutines, smp.heapLive = m.goroutines, m.heapLive
	}
	p.mu.Lock()
	p.samples = append(p.samples, smp)
	p.mu.Unlock()
}

// peaks returns the highest RSS, goroutines and live heap sampled.
func (p *soakSampler) peaks() (rss int64, goroutines int, heap float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, smp := range p.samples {
		rss, goroutines, heap = max(rss, smp.rss), max(goroutines, smp.goroutines), max(heap, smp.heapLive)
	}
	return rss, goroutines, heap
}

// rssOverTime returns the RSS sampled in n slices of the run, the
// highest of each, as MiB.
func (p *soakSampler) rssOverTime(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) == 0 {
		return nil
	}
	first, last := p.samples[0].at, p.samples[len(p.samples)-1].at
	span := last.Sub(first)/time.Duration(n) + time.Nanosecond
	peak := make([]int64, n)
	for _, smp := range p.samples {
		i := min(int(smp.at.Sub(first)/span), n-1)
		peak[i] = max(peak[i], smp.rss)
	}
	var out []string
	for _, v := range peak {
		if v == 0 {
			out = append(out, "-") // no agent ran in this slice (killed)
			continue
		}
		out = append(out, fmt.Sprintf("%.0f", float64(v)/(1<<20)))
	}
	return out
}

// readAllLimited reads at most n bytes of r.
func readAllLimited(r io.Reader, n int64) string {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	return strings.TrimSpace(string(b))
}
