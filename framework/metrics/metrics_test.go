package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// probe is a gadget declaring one metric of each sort.
func probe() *gadget.Info {
	return &gadget.Info{
		Name:        "probe",
		Description: "A gadget for tests.",
		Operations: []gadget.Operation{{Name: "start", Doc: "Start probe",
			Handler: func(ctx context.Context, h gadget.Handle) error { return h.Start(ctx) }}},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream},
		TypesPackage: "example.com/probe",
		New:          func(gadget.Config) (gadget.Instance, error) { return nil, errors.New("unused") },
		Metrics: []gadget.Metric{
			{Name: "gadget_probe_map_edges", Help: "Edges.", Kind: gadget.MetricGauge},
			{Name: "gadget_probe_lost_total", Help: "Lost.", Kind: gadget.MetricCounter},
			{Name: "gadget_probe_packets_total", Help: "Packets.", Kind: gadget.MetricCounter, Labels: []string{"pod", "port"}, Traffic: true},
			{Name: "gadget_probe_bytes_total", Help: "Bytes.", Kind: gadget.MetricCounter, Labels: []string{"pod", "port"}, Traffic: true},
		},
	}
}

func newSet(t *testing.T, opts metrics.Options) (*metrics.Set, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := metrics.New(reg, []*gadget.Info{probe()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func want(t *testing.T, f metricstest.Families, name string, labels map[string]string, v float64) {
	t.Helper()
	got, ok := f.Value(name, labels)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

func TestTraceMetrics(t *testing.T) {
	s, reg := newSet(t, metrics.Options{})
	s.TraceCreated("probe")
	s.TraceCreated("probe")
	s.TraceState("probe", "Stopped", "Started")
	s.TargetsAttached("probe", 3)
	s.TargetsAttached("probe", -1)
	s.Attached("probe", 2*time.Millisecond)
	s.Attached("probe", 3*time.Millisecond)
	for range 5 {
		s.Batch("probe")
	}
	s.Stage("probe", metrics.StageOutput, time.Now().Add(-time.Millisecond))
	s.StreamReader(1)
	s.StreamReader(1)
	s.StreamReader(-1)
	s.StreamDropped(4)
	s.StreamDropped(0)

	f := metricstest.Gather(t, reg)
	want(t, f, "gadget_traces", map[string]string{"gadget": "probe", "state": "Started"}, 1)
	want(t, f, "gadget_traces", map[string]string{"gadget": "probe", "state": "Stopped"}, 1)
	want(t, f, "gadget_targets_attached", map[string]string{"gadget": "probe"}, 2)
	want(t, f, "gadget_attach_duration_seconds", map[string]string{"gadget": "probe"}, 2)
	want(t, f, "gadget_batches_total", map[string]string{"gadget": "probe"}, 5)
	want(t, f, "gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "probe", "stage": "output"}, 1)
	want(t, f, "gadget_stream_readers", nil, 1)
	want(t, f, "gadget_stream_batches_dropped_total", nil, 4)
	want(t, f, "gadget_traffic_edges_limit", nil, 0)

	// A forgotten trace leaves the count.
	s.TraceState("probe", "Started", "")
	f = metricstest.Gather(t, reg)
	want(t, f, "gadget_traces", map[string]string{"gadget": "probe", "state": "Started"}, 0)
}

func TestGadgetMetrics(t *testing.T) {
	s, reg := newSet(t, metrics.Options{})
	a := s.Gadget("probe", "ns/a")
	b := s.Gadget("probe", "ns/b")
	a.Set("gadget_probe_map_edges", 7)
	b.Set("gadget_probe_map_edges", 9)
	a.Add("gadget_probe_lost_total", 2)
	b.Add("gadget_probe_lost_total", 3)
	a.Add("gadget_probe_lost_total", -1)                      // a counter never goes down
	a.Set("gadget_probe_unknown", 1)                          // undeclared
	a.Add("gadget_probe_lost_total", 1, "extra")              // wrong labels
	s.Gadget("other", "x").Set("gadget_probe_map_edges", 100) // not its gadget's
	if a.Traffic() {
		t.Error("Traffic() is true with traffic metrics off")
	}
	a.Add("gadget_probe_packets_total", 1, "p", "80")

	f := metricstest.Gather(t, reg)
	want(t, f, "gadget_probe_map_edges", map[string]string{"trace": "ns/a"}, 7)
	want(t, f, "gadget_probe_map_edges", map[string]string{"trace": "ns/b"}, 9)
	if _, n := f.Sum("gadget_probe_map_edges", nil); n != 2 {
		t.Errorf("gadget_probe_map_edges has %d series, want 2: %v", n, f.Series("gadget_probe_map_edges"))
	}
	want(t, f, "gadget_probe_lost_total", nil, 5)
	if _, ok := f["gadget_probe_packets_total"]; ok {
		t.Error("a traffic metric is exported with traffic metrics off")
	}

	a.Close()
	f = metricstest.Gather(t, reg)
	if _, ok := f.Value("gadget_probe_map_edges", map[string]string{"trace": "ns/a"}); ok {
		t.Error("the gauge of a closed trace is still exported")
	}
	want(t, f, "gadget_probe_map_edges", map[string]string{"trace": "ns/b"}, 9)

	// A nil Set keeps nothing and does not panic.
	var none *metrics.Set
	none.Batch("probe")
	g := none.Gadget("probe", "t")
	g.Set("gadget_probe_map_edges", 1)
	g.Add("gadget_probe_lost_total", 1)
	g.Close()
}

func TestTrafficCap(t *testing.T) {
	var logs bytes.Buffer
	s, reg := newSet(t, metrics.Options{Traffic: true, TrafficLimit: 2,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	g := s.Gadget("probe", "t")
	if !g.Traffic() {
		t.Fatal("Traffic() is false with traffic metrics on")
	}
	for i, port := range []string{"80", "443", "8080", "8080", "9090", "80"} {
		g.Add("gadget_probe_packets_total", float64(i+1), "web", port)
		g.Add("gadget_probe_bytes_total", 100, "web", port)
	}
	f := metricstest.Gather(t, reg)
	want(t, f, "gadget_probe_packets_total", map[string]string{"pod": "web", "port": "80"}, 1+6)
	want(t, f, "gadget_probe_packets_total", map[string]string{"pod": "web", "port": "443"}, 2)
	want(t, f, "gadget_probe_bytes_total", map[string]string{"pod": "web", "port": "80"}, 200)
	if _, n := f.Sum("gadget_probe_packets_total", nil); n != 2 {
		t.Errorf("%d packet series, want 2 (the cap): %v", n, f.Series("gadget_probe_packets_total"))
	}
	want(t, f, "gadget_traffic_edges", nil, 2)
	want(t, f, "gadget_traffic_edges_limit", nil, 2)
	// 8080 and 9090 were refused; 8080 twice, counted once.
	want(t, f, "gadget_traffic_edges_dropped_total", nil, 2)
	if n := strings.Count(logs.String(), "cap reached"); n != 1 {
		t.Errorf("%d warnings about the cap, want 1:\n%s", n, logs.String())
	}
}

func TestSecondSetShares(t *testing.T) {
	s1, reg := newSet(t, metrics.Options{})
	s2, err := metrics.New(reg, []*gadget.Info{probe()}, metrics.Options{})
	if err != nil {
		t.Fatalf("a second Set on the same registry: %v", err)
	}
	s1.Batch("probe")
	s2.Batch("probe")
	want(t, metricstest.Gather(t, reg), "gadget_batches_total", map[string]string{"gadget": "probe"}, 2)

	// Another metric of the same name is an error.
	reg2 := prometheus.NewRegistry()
	reg2.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "gadget_batches_total", Help: "x"}))
	if _, err := metrics.New(reg2, nil, metrics.Options{}); err == nil {
		t.Error("New over a clashing metric: no error")
	}
	// A gadget whose declaration is invalid: its metric lacks its prefix.
	bad := probe()
	bad.Name = "probe2"
	if _, err := metrics.New(prometheus.NewRegistry(), []*gadget.Info{bad}, metrics.Options{}); err == nil || !strings.Contains(err.Error(), "gadget_probe2_") {
		t.Errorf("a metric without the gadget's prefix: err %v, want one naming gadget_probe2_", err)
	}
}

type stubEnricher struct{ err error }

func (s stubEnricher) Manifest() abi.Manifest {
	return abi.Manifest{Name: "stub", Kind: abi.KindEnricher}
}
func (s stubEnricher) Enrich(_ context.Context, b plugin.Batch, _ map[string]string) ([]byte, error) {
	return b.Events, s.err
}
func (stubEnricher) Close() error { return nil }

func TestPluginCalls(t *testing.T) {
	s, reg := newSet(t, metrics.Options{})
	ctx := context.Background()
	for _, err := range []error{nil, nil, errors.New("plugin error: bad"),
		fmt.Errorf("no result within the deadline: %w", context.DeadlineExceeded)} {
		e := s.Enricher(stubEnricher{err})
		if _, got := e.Enrich(ctx, plugin.Batch{Events: []byte("[]")}, nil); !errors.Is(got, err) {
			t.Errorf("Enrich returned %v, want the plugin's %v", got, err)
		}
	}
	s.PluginRestarted("stub")
	f := metricstest.Gather(t, reg)
	l := map[string]string{"plugin": "stub", "kind": "enricher"}
	want(t, f, "gadget_plugin_calls_total", l, 4)
	want(t, f, "gadget_plugin_errors_total", l, 2)
	want(t, f, "gadget_plugin_timeouts_total", l, 1)
	want(t, f, "gadget_plugin_restarts_total", map[string]string{"plugin": "stub"}, 1)
	var none *metrics.Set
	if e := (stubEnricher{}); none.Enricher(e) != e {
		t.Error("a nil Set wraps the plugin")
	}
}

// BenchmarkTrafficAdd measures one edge's packet and byte counters in a
// drain, for edges already kept: the cost --traffic-metrics adds per edge
// and interval (about 530 ns on the 2-core test machine: 9 ms for the
// 16,384 edges of a full default map).
func BenchmarkTrafficAdd(b *testing.B) {
	reg := prometheus.NewRegistry()
	s, err := metrics.New(reg, []*gadget.Info{probe()}, metrics.Options{Traffic: true})
	if err != nil {
		b.Fatal(err)
	}
	g := s.Gadget("probe", "t")
	ports := make([]string, 1000)
	for i := range ports {
		ports[i] = fmt.Sprint(i)
	}
	for i := 0; b.Loop(); i++ {
		p := ports[i%len(ports)]
		g.Add("gadget_probe_packets_total", 1, "web", p)
		g.Add("gadget_probe_bytes_total", 100, "web", p)
	}
}
