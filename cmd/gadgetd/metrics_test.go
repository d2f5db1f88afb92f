package main

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/framework/registry"
)

// counterGadget emits one batch per target added; its instances touch no
// kernel.
func counterGadget() *gadget.Info {
	return &gadget.Info{
		Name:        "counter",
		Description: "A gadget for tests.",
		Operations: []gadget.Operation{
			{Name: "start", Doc: "Start counter", Handler: func(ctx context.Context, h gadget.Handle) error { return h.Start(ctx) }},
			{Name: "stop", Doc: "Stop counter", Handler: func(ctx context.Context, h gadget.Handle) error { return h.Stop(ctx) }},
		},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream},
		TypesPackage: "example.com/counter",
		New:          func(cfg gadget.Config) (gadget.Instance, error) { return counterInstance{cfg}, nil },
		Metrics:      []gadget.Metric{{Name: "gadget_counter_targets_seen_total", Help: "Targets added.", Kind: gadget.MetricCounter}},
	}
}

// counterRegistry is a registry of counterGadget alone.
func counterRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg := &registry.Registry{}
	if err := reg.Register(counterGadget()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type counterInstance struct{ cfg gadget.Config }

func (c counterInstance) Start(context.Context) error { return nil }
func (c counterInstance) AddTarget(_ context.Context, t gadget.Target) error {
	c.cfg.Metrics.Add("gadget_counter_targets_seen_total", 1)
	c.cfg.Emit([]string{t.ID})
	return nil
}
func (c counterInstance) RemoveTarget(context.Context, string) error { return nil }
func (c counterInstance) Stop(context.Context) error                 { return nil }

// TestAgentMetrics runs the agent against a real API server with its
// metrics endpoint on loopback, starts a Trace of two pods, and scrapes
// the endpoint as Prometheus would: the trace by gadget and state, its
// targets, batches and attach latencies, and the gadget's own counter;
// deleting the trace takes it out of the count.
func TestAgentMetrics(t *testing.T) {
	cfg, c := apiServer(t)
	reg, addr := counterRegistry(t), freeAddr(t)

	const node = "node-metrics-test"
	targets := staticTargets{{ID: "pod-a", Namespace: "demo", Pod: "a", NetnsPath: "/a"}, {ID: "pod-b", Namespace: "demo", Pod: "b", NetnsPath: "/b"}}
	ctx := runAgent(t, cfg, options{nodeName: node, metricsAddr: addr, healthAddr: "0"}, reg, targets)

	// Counters grow across runs of the test in one process (-count):
	// they are compared with what was there before.
	url := "http://" + addr + "/metrics"
	before := scrapeUntil(t, url, func(metricstest.Families) bool { return true })
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: ns.Name, Name: "count"}
	if err := c.Create(ctx, &v1alpha1.Trace{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec:       v1alpha1.TraceSpec{Node: node, Gadget: "counter", RunMode: v1alpha1.RunModeAuto, OutputMode: v1alpha1.OutputModeStream},
	}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, key, v1alpha1.TraceStateStarted)

	counter := map[string]string{"gadget": "counter"}
	want := []struct {
		name   string
		labels map[string]string
		v      float64
		delta  bool // a counter: compared with before
	}{
		{"gadget_traces", map[string]string{"gadget": "counter", "state": "Started"}, 1, false},
		{"gadget_traces", map[string]string{"gadget": "counter", "state": "Stopped"}, 0, false},
		{"gadget_targets_attached", counter, 2, false},
		{"gadget_attach_duration_seconds", counter, 2, true},
		{"gadget_batches_total", counter, 2, true},
		{"gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "counter", "stage": "stream"}, 2, true},
		{"gadget_counter_targets_seen_total", nil, 2, true},
	}
	f := scrapeUntil(t, url, func(f metricstest.Families) bool {
		v, _ := f.Value("gadget_targets_attached", counter)
		return v == 2
	})
	for _, w := range want {
		v, ok := f.Value(w.name, w.labels)
		if w.delta {
			b, _ := before.Value(w.name, w.labels)
			v -= b
		}
		if !ok || v != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.v)
		}
	}
	// controller-runtime's own metrics share the endpoint.
	if _, ok := f["controller_runtime_reconcile_total"]; !ok {
		t.Error("controller_runtime_reconcile_total is missing: the agent's metrics are not on the manager's registry")
	}

	if err := c.Delete(ctx, &v1alpha1.Trace{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}); err != nil {
		t.Fatal(err)
	}
	f = scrapeUntil(t, url, func(f metricstest.Families) bool {
		v, _ := f.Value("gadget_traces", map[string]string{"gadget": "counter", "state": "Started"})
		return v == 0
	})
	if v, _ := f.Value("gadget_traces", map[string]string{"gadget": "counter", "state": "Stopped"}); v != 0 {
		t.Errorf("a deleted trace is counted as Stopped: %v", v)
	}
	if v, _ := f.Value("gadget_targets_attached", counter); v != 0 {
		t.Errorf("gadget_targets_attached = %v after the trace was deleted, want 0", v)
	}
}

// scrapeUntil scrapes url until cond holds, for 30s.
func scrapeUntil(t *testing.T, url string, cond func(metricstest.Families) bool) metricstest.Families {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f, err := tryScrape(t, url)
		if err == nil && cond(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape %s: condition not met within 30s (last error %v)", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tryScrape scrapes url, returning an error while the endpoint is not up.
func tryScrape(t *testing.T, url string) (metricstest.Families, error) {
	host := url[len("http://"):]
	host = host[:len(host)-len("/metrics")]
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return nil, errors.New("metrics endpoint not listening yet")
	}
	c.Close()
	return metricstest.Scrape(t, url), nil
}
