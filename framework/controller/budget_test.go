package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
)

func TestNodeBudget(t *testing.T) {
	rt := func(name string, kmem uint64) *running {
		return &running{name: name, kmem: kmem, info: &gadget.Info{Name: "probe"}}
	}
	tests := []struct {
		name      string
		bytes     uint64
		maxTraces int
		held      []uint64
		need      uint64
		wantErr   string // "" : reserved
		reason    string // of gadget_node_traces_refused_total
	}{
		{"fits", 100, 10, []uint64{40, 40}, 20, "", ""},
		{"no byte limit", 0, 10, []uint64{1 << 40}, 1 << 40, "", ""},
		{"bytes exceeded", 100, 10, []uint64{40, 40}, 21, "needs an estimated 0.0 MiB of kernel memory (gadget probe", metrics.RefusedKernelMemory},
		{"alone too big", 100, 10, nil, 101, "--kernel-memory-budget", metrics.RefusedKernelMemory},
		{"count exceeded", 0, 2, []uint64{1, 1}, 1, "runs 2 traces already, its limit (gadgetd --max-traces)", metrics.RefusedMaxTraces},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prom := prometheus.NewRegistry()
			set, err := metrics.New(prom, nil, metrics.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b := newNodeBudget("node-a", tt.bytes, tt.maxTraces, set)
			for i, n := range tt.held {
				if err := b.reserve(rt(fmt.Sprintf("ns/held-%d", i), n)); err != nil {
					t.Fatal(err)
				}
			}
			r := rt("ns/new", tt.need)
			err = b.reserve(r)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("reserve: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "node-a")):
				t.Fatalf("reserve: %v; want an error naming node-a and %q", err, tt.wantErr)
			}
			f := metricstest.Gather(t, prom)
			if tt.wantErr != "" {
				if v, _ := f.Value("gadget_node_traces_refused_total", map[string]string{"reason": tt.reason}); v != 1 {
					t.Errorf("gadget_node_traces_refused_total{reason=%q} = %v after the refusal, want 1", tt.reason, v)
				}
				return
			}
			if v, _ := f.Value("gadget_node_traces_started", nil); v != float64(len(tt.held)+1) {
				t.Errorf("gadget_node_traces_started = %v, want %d", v, len(tt.held)+1)
			}
			if v, _ := f.Value("gadget_node_kernel_memory_bytes", nil); v != float64(sum(tt.held)+tt.need) {
				t.Errorf("gadget_node_kernel_memory_bytes = %v, want %d", v, sum(tt.held)+tt.need)
			}
			if v, _ := f.Value("gadget_node_kernel_memory_budget_bytes", nil); v != float64(tt.bytes) {
				t.Errorf("gadget_node_kernel_memory_budget_bytes = %v, want %d", v, tt.bytes)
			}
			if err := b.reserve(r); err != nil {
				t.Errorf("reserve twice: %v", err)
			}
			b.release(r)
			b.release(r)
			if n, used := b.usage(); n != len(tt.held) || used != sum(tt.held) {
				t.Errorf("after release: %d traces, %d bytes; want %d, %d", n, used, len(tt.held), sum(tt.held))
			}
		})
	}
}

func sum(ns []uint64) (s uint64) {
	for _, n := range ns {
		s += n
	}
	return s
}

// TestNodeBudgetHundredTraces creates 100 Traces on one node whose gadget
// pins 10 MiB of kernel memory each, under the budget of the shipped
// DaemonSet (half of its 512 MiB limit): 25 start, every other one is
// refused with an operationError naming it, its estimate and the flag;
// the agent stays up; a stopped trace makes room for a refused one.
func TestNodeBudgetHundredTraces(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, p := newProbeRegistry()
	fat := p.info("fat", []gadget.OutputMode{gadget.OutputModeStatus})
	fat.KernelMemory = func(map[string]string) (uint64, error) { return 10 << 20, nil }
	if err := reg.Register(fat); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, Options{Node: node, Registry: reg, KernelMemoryBudget: 256 << 20})

	const total, fit = 100, 25
	ctx := context.Background()
	for i := range total {
		tr := &v1alpha1.Trace{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("t%03d", i)},
			Spec:       v1alpha1.TraceSpec{Node: node, Gadget: "fat", OutputMode: v1alpha1.OutputModeStatus, RunMode: v1alpha1.RunModeAuto},
		}
		if err := c.Create(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	var list v1alpha1.TraceList
	var started, refused []string
	eventually(t, "every trace started or refused", func() (bool, string) {
		started, refused = nil, nil
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, tr := range list.Items {
			switch {
			case tr.Status.State == v1alpha1.TraceStateStarted:
				started = append(started, tr.Name)
			case tr.Status.OperationError != "":
				refused = append(refused, tr.Name)
			}
		}
		return len(started)+len(refused) == total, fmt.Sprintf("%d started, %d refused", len(started), len(refused))
	})
	if len(started) != fit {
		t.Errorf("%d traces started, want %d", len(started), fit)
	}
	for _, tr := range list.Items {
		if tr.Status.State == v1alpha1.TraceStateStarted {
			continue
		}
		msg := tr.Status.OperationError
		for _, want := range []string{"trace " + ns + "/" + tr.Name + " needs an estimated 10.0 MiB", "250.0 MiB of its 256.0 MiB", "gadgetd --kernel-memory-budget", node} {
			if !strings.Contains(msg, want) {
				t.Errorf("trace %s: operationError %q does not say %q", tr.Name, msg, want)
				break
			}
		}
		if tr.Status.State != v1alpha1.TraceStateStopped {
			t.Errorf("refused trace %s: state %q, want Stopped", tr.Name, tr.Status.State)
		}
	}
	if st := a.r.BudgetStats(); st.Traces != fit || st.KernelMemory != fit*10<<20 {
		t.Errorf("BudgetStats = %+v, want %d traces and %d bytes", st, fit, fit*10<<20)
	}
	select {
	case err := <-a.done:
		t.Fatalf("the agent stopped: %v", err)
	default:
	}

	// Stopping a started trace makes room for a refused one.
	first := types.NamespacedName{Namespace: ns, Name: started[0]}
	annotate(t, c, first, "stop")
	waitTrace(t, c, first, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	next := types.NamespacedName{Namespace: ns, Name: refused[0]}
	annotate(t, c, next, "start")
	waitTrace(t, c, next, "started in the room made", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted && tr.Status.OperationError == ""
	})
	again := types.NamespacedName{Namespace: ns, Name: refused[1]}
	annotate(t, c, again, "start")
	waitTrace(t, c, again, "refused again", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && strings.Contains(tr.Status.OperationError, "--kernel-memory-budget")
	})
}
