package trace

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/framework/registry"
)

// TestMetrics drives a trace through its lifecycle and reads its metrics
// as a scraper would.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	g := &fakeGadget{failAdd: map[string]bool{"broken": true}}
	reg := &registry.Registry{}
	if err := reg.Register(g.info()); err != nil {
		t.Fatal(err)
	}
	prom := prometheus.NewRegistry()
	set, err := metrics.New(prom, reg.All(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(reg, Config{Gadget: "fake", Node: "n", Parameters: map[string]string{"interval": "1s"}, Emit: func(any) {}, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		v, _ := metricstest.Gather(t, prom).Value(name, labels)
		return v
	}
	fake := map[string]string{"gadget": "fake"}
	check := func(step string, started, stopped, targets, attaches, batches float64) {
		t.Helper()
		got := []float64{
			value("gadget_traces", map[string]string{"gadget": "fake", "state": "Started"}),
			value("gadget_traces", map[string]string{"gadget": "fake", "state": "Stopped"}),
			value("gadget_targets_attached", fake),
			value("gadget_attach_duration_seconds", fake),
			value("gadget_batches_total", fake),
		}
		want := []float64{started, stopped, targets, attaches, batches}
		for i, name := range []string{"started traces", "stopped traces", "targets", "attaches", "batches"} {
			if got[i] != want[i] {
				t.Errorf("%s: %s = %v, want %v", step, name, got[i], want[i])
			}
		}
	}
	check("new", 0, 1, 0, 0, 0)
	for _, id := range []string{"a", "b"} {
		if err := tr.AddTarget(ctx, target(id)); err != nil {
			t.Fatal(err)
		}
	}
	check("targets before start", 0, 1, 0, 0, 0)
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The fake emits one batch per call: start, add a, add b.
	check("started", 1, 0, 2, 2, 3)
	if err := tr.AddTarget(ctx, target("broken")); err == nil {
		t.Fatal("adding the broken target: no error")
	}
	if err := tr.AddTarget(ctx, target("c")); err != nil {
		t.Fatal(err)
	}
	if err := tr.RemoveTarget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	check("targets changed", 1, 0, 2, 3, 5)
	if v := value("gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "fake", "stage": metrics.StageEmit}); v != 5 {
		t.Errorf("emit stage observed %v times, want 5", v)
	}
	if err := tr.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	check("stopped", 0, 1, 0, 3, 6)
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	check("closed", 0, 0, 0, 3, 6)
}
