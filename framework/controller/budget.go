package controller

import (
	"errors"
	"fmt"
	"sync"

	"github.com/gadgetkit/gadget/framework/metrics"
)

// DefaultMaxTraces is how many traces may run on a node at once when
// Options.MaxTraces is 0.
const DefaultMaxTraces = 64

// ErrNodeBudget is wrapped by the error of an operation refused because
// starting the trace would exceed the node's budget (Options.MaxTraces,
// Options.KernelMemoryBudget).
var ErrNodeBudget = errors.New("node budget exceeded")

// nodeBudget holds what the started traces of the node take: their count
// and the kernel memory their gadgets estimate (gadget.Info.KernelMemory).
// Kernel memory (eBPF maps) is charged to the agent's memory cgroup: an
// agent that starts too many traces is OOM-killed, and killed again each
// time it resumes them.
type nodeBudget struct {
	node      string
	bytes     uint64 // 0: no limit
	maxTraces int
	metrics   *metrics.Set // nil: none

	mu   sync.Mutex
	used uint64
	held map[*running]uint64 // started traces and their estimates
}

func newNodeBudget(node string, bytes uint64, maxTraces int, m *metrics.Set) *nodeBudget {
	b := &nodeBudget{node: node, bytes: bytes, maxTraces: maxTraces, metrics: m, held: map[*running]uint64{}}
	b.report()
	return b
}

// report hands the budget's use to the metrics; b.mu held or b unshared.
func (b *nodeBudget) report() {
	b.metrics.NodeBudget(len(b.held), b.maxTraces, b.used, b.bytes)
}

// reserve takes rt.kmem bytes for rt, unless that would exceed the
// budget. Reserving for a trace that holds a reservation already is a
// no-op.
func (b *nodeBudget) reserve(rt *running) error {
	name, g, need := rt.name, rt.info.Name, rt.kmem
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.held[rt]; ok {
		return nil
	}
	if len(b.held) >= b.maxTraces {
		b.metrics.NodeRefused(metrics.RefusedMaxTraces)
		return fmt.Errorf("%w: node %s runs %d traces already, its limit (gadgetd --max-traces): "+
			"stop another trace on this node, or raise gadgetd --max-traces", ErrNodeBudget, b.node, len(b.held))
	}
	if b.bytes > 0 && b.used+need > b.bytes {
		b.metrics.NodeRefused(metrics.RefusedKernelMemory)
		return fmt.Errorf("%w: trace %s needs an estimated %s of kernel memory (gadget %s with its spec.parameters), "+
			"but the %d traces started on node %s take %s of its %s kernel memory budget (gadgetd --kernel-memory-budget): "+
			"stop another trace on this node, ask for less (spec.parameters, e.g. max-edges), or raise gadgetd --kernel-memory-budget",
			ErrNodeBudget, name, mib(need), g, len(b.held), b.node, mib(b.used), mib(b.bytes))
	}
	b.held[rt] = need
	b.used += need
	b.report()
	return nil
}

// release gives back what rt holds, if anything.
func (b *nodeBudget) release(rt *running) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.held[rt]; ok {
		b.used -= n
		delete(b.held, rt)
		b.report()
	}
}

// usage returns the started traces and their estimated kernel memory.
func (b *nodeBudget) usage() (traces int, bytes uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.held), b.used
}

// mib formats n bytes in MiB, e.g. "10.6 MiB".
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// BudgetStats is what the started traces of the node take of its budget.
type BudgetStats struct {
	// Traces is the number of started traces; MaxTraces their limit.
	Traces, MaxTraces int
	// KernelMemory is the sum of their estimated kernel memory in bytes;
	// KernelMemoryBudget its limit (0: none).
	KernelMemory, KernelMemoryBudget uint64
}

// BudgetStats returns what the started traces take of the node's budget.
func (r *Reconciler) BudgetStats() BudgetStats {
	n, used := r.budget.usage()
	return BudgetStats{Traces: n, MaxTraces: r.budget.maxTraces, KernelMemory: used, KernelMemoryBudget: r.budget.bytes}
}
