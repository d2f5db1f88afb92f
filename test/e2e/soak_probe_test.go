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

	"github.com/gadgetkit/gadget/test/internal/procstat"
)

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
	smp := soakSample{at: time.Now(), pid: pid, rss: procstat.RSS(pid)}
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
