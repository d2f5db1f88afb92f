package networkgraph

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestFlowsFor(t *testing.T) {
	for _, tt := range []struct{ edges, flows uint32 }{
		{1, 1024}, {256, 1024}, {1024, 4096}, {DefaultMaxEdges, DefaultMaxFlows}, {1 << 20, DefaultMaxFlows},
	} {
		if got := FlowsFor(tt.edges); got != tt.flows {
			t.Errorf("FlowsFor(%d) = %d, want %d", tt.edges, got, tt.flows)
		}
	}
}

func TestMemoryEstimateGrowsWithOptions(t *testing.T) {
	def := MemoryEstimate(Options{}, 2)
	if def < 9<<20 || def > 12<<20 {
		t.Errorf("default estimate on 2 CPUs: %d bytes, want about 10.6 MiB", def)
	}
	small := MemoryEstimate(Options{MaxEdges: 1024}, 2)
	if small > def/8 {
		t.Errorf("max-edges=1024: %d bytes, want far less than the default's %d (the flows map follows max-edges)", small, def)
	}
	if MemoryEstimate(Options{}, 64) <= def {
		t.Error("the estimate does not grow with the CPUs")
	}
}

// memlock reads the kernel's memory accounting of a BPF map fd
// (/proc/self/fdinfo/FD, memlock).
func memlock(t *testing.T, m *ebpf.Map) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", m.FD()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "memlock:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no memlock in the fdinfo of map %v", m)
	return 0
}

// TestMemoryEstimate checks the estimate against what the kernel accounts
// for the maps of a loaded program: never below, at most twice as much.
func TestMemoryEstimate(t *testing.T) {
	testenv.RequirePrivileged(t)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {MaxEdges: 1024}, {MaxEdges: 100000}, {Socket: true}} {
		objs, err := Load(opts)
		if err != nil {
			t.Fatal(err)
		}
		o := &objs.objs.networkgraphMaps
		if want := FlowsFor(max(opts.MaxEdges, 1)); opts.MaxEdges != 0 && o.Flows.MaxEntries() != want {
			t.Errorf("max-edges %d: flows map of %d entries, want %d", opts.MaxEdges, o.Flows.MaxEntries(), want)
		}
		var sum uint64
		for _, m := range []*ebpf.Map{o.ClockSample, o.Counters, o.Edges, o.Entry, o.EntryTc, o.FlowCache, o.Flows, o.FreeIds, o.Stats, o.Conns, o.Watched, o.FirstWalks} {
			if m != nil { // the other variant's
				sum += memlock(t, m)
			}
		}
		objs.Close()
		est := MemoryEstimate(opts, ncpu)
		if opts.Socket && !objs.Socket() {
			t.Errorf("attach=socket's programs did not load: %v", objs.SocketError())
		}
		t.Logf("socket %v, max-edges %d, %d CPUs: kernel accounts %d bytes for the maps, estimate %d", opts.Socket, opts.MaxEdges, ncpu, sum, est)
		if est < sum || est > 2*sum {
			t.Errorf("max-edges %d: estimate %d bytes, kernel maps %d: want between 1 and 2 times", opts.MaxEdges, est, sum)
		}
	}
}
