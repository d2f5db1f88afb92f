// Package metrics keeps the Prometheus metrics of one process (gadget run,
// gadgetd): the state of its traces, their targets and batches, the
// latency of the stages a batch goes through, the calls of the plugins,
// the stream readers, and the metrics each gadget declares in
// gadget.Info.Metrics. A Set is created once per process on the registry
// that serves it (for gadgetd, controller-runtime's) and handed to the
// parts that report into it; a nil *Set keeps nothing, so callers need no
// checks. docs/metrics.md lists every metric.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// DefaultTrafficLimit is the default cap on the label sets (edges) of the
// traffic metrics of a process.
const DefaultTrafficLimit = 10000

// The stages of a batch timed in gadget_pipeline_stage_duration_seconds.
const (
	// StageEmit is the whole way of a batch from the instance's Emit
	// until every consumer has it.
	StageEmit = "emit"
	// StageEnrich is the node agent's enrichment from the cluster.
	StageEnrich = "enrich"
	// StageOutput is the output (formatter, plugins, merge) of one batch.
	StageOutput = "output"
	// StageStream is keeping the batch for the stream readers.
	StageStream = "stream"
	// StageWeb is publishing the batch to the live view.
	StageWeb = "web"
)

// Options configure a Set.
type Options struct {
	// Traffic keeps the gadgets' per-edge traffic counters (declared with
	// gadget.Metric.Traffic). Off by default: their label sets grow with
	// the traffic.
	Traffic bool
	// TrafficLimit caps the label sets of the traffic counters; updates
	// of label sets beyond it are dropped and counted in
	// gadget_traffic_edges_dropped_total. 0 means DefaultTrafficLimit.
	TrafficLimit int
	// Logger receives the one warning when the cap is first reached; nil
	// discards it.
	Logger *slog.Logger
}

// Set is the metrics of one process. Its methods are safe for concurrent
// use and do nothing on a nil *Set.
type Set struct {
	opts Options
	log  *slog.Logger

	traces         *prometheus.GaugeVec
	targets        *prometheus.GaugeVec
	attach         *prometheus.HistogramVec
	batches        *prometheus.CounterVec
	stage          *prometheus.HistogramVec
	pluginCalls    *prometheus.CounterVec
	pluginErrors   *prometheus.CounterVec
	pluginTimeouts *prometheus.CounterVec
	pluginRestarts *prometheus.CounterVec
	streamReaders  prometheus.Gauge
	streamDropped  prometheus.Counter
	streamRefused  prometheus.Counter
	streamTimeouts prometheus.Counter
	nodeTraces     prometheus.Gauge
	nodeMaxTraces  prometheus.Gauge
	nodeKmem       prometheus.Gauge
	nodeKmemBudget prometheus.Gauge
	nodeRefused    *prometheus.CounterVec
	trafficEdges   prometheus.Gauge
	trafficLimit   prometheus.Gauge
	trafficDropped prometheus.Counter
	gadgetGauges   map[string]*prometheus.GaugeVec
	gadgetCounters map[string]*prometheus.CounterVec
	gadgetMetrics  map[string]gadget.Metric
	gadgetByMetric map[string]string // metric name -> gadget name
	trafficMu      sync.Mutex
	trafficSeen    map[string]bool // gadget + label values
	trafficRefused map[string]bool // bounded: maxRefused
	trafficWarned  bool
	descriptions   []Description
}

// maxRefused bounds the memory spent telling refused label sets apart;
// past it every refused update counts as a new label set.
const maxRefused = 100000

// New registers the metrics of the framework and of every gadget in
// gadgets on reg and returns the Set. A second Set on the same registry
// shares the first one's collectors. It fails when a gadget's declaration
// is invalid or reg holds another metric of the same name.
func New(reg prometheus.Registerer, gadgets []*gadget.Info, opts Options) (*Set, error) {
	if opts.TrafficLimit <= 0 {
		opts.TrafficLimit = DefaultTrafficLimit
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Set{
		opts:           opts,
		log:            log,
		gadgetGauges:   map[string]*prometheus.GaugeVec{},
		gadgetCounters: map[string]*prometheus.CounterVec{},
		gadgetMetrics:  map[string]gadget.Metric{},
		gadgetByMetric: map[string]string{},
		trafficSeen:    map[string]bool{},
		trafficRefused: map[string]bool{},
	}
	s.traces = s.gaugeVec("gadget_traces", "Traces known to this process, by gadget and state (Started, Stopped).", "gadget", "state")
	s.targets = s.gaugeVec("gadget_targets_attached", "Targets (pods, network namespaces) the started traces watch, by gadget.", "gadget")
	s.attach = s.histogramVec("gadget_attach_duration_seconds", "Time to attach a gadget instance to one target, by gadget.", "gadget")
	s.batches = s.counterVec("gadget_batches_total", "Batches of events the gadget instances emitted, by gadget.", "gadget")
	s.stage = s.histogramVec("gadget_pipeline_stage_duration_seconds",
		"Time one batch spent in a stage of the pipeline (emit, enrich, output, stream, web), by gadget and stage.", "gadget", "stage")
	s.pluginCalls = s.counterVec("gadget_plugin_calls_total", "Calls of enricher and formatter plugins, by plugin and kind.", "plugin", "kind")
	s.pluginErrors = s.counterVec("gadget_plugin_errors_total", "Plugin calls that failed (timeouts included), by plugin and kind.", "plugin", "kind")
	s.pluginTimeouts = s.counterVec("gadget_plugin_timeouts_total",
		"Plugin calls that failed for want of a result within the call timeout, by plugin and kind.", "plugin", "kind")
	s.pluginRestarts = s.counterVec("gadget_plugin_restarts_total",
		"Times a go-plugin process was started again after it died or was killed, by plugin.", "plugin")
	s.streamReaders = s.gauge("gadget_stream_readers", "Readers connected to the stream server.")
	s.streamDropped = s.counter("gadget_stream_batches_dropped_total", "Batches stream readers missed because they fell behind the kept batches.")
	s.streamRefused = s.counter("gadget_stream_readers_refused_total",
		"Stream readers refused (HTTP 429) because the trace had as many readers as its limit (gadgetd --stream-max-readers).")
	s.streamTimeouts = s.counter("gadget_stream_write_timeouts_total",
		"Stream readers disconnected because a write to them took longer than the write timeout (gadgetd --stream-write-timeout).")
	s.nodeTraces = s.gauge("gadget_node_traces_started", "Traces started on this node, counted against gadgetd --max-traces.")
	s.nodeMaxTraces = s.gauge("gadget_node_traces_limit", "Limit on the traces started on this node at once (gadgetd --max-traces).")
	s.nodeKmem = s.gauge("gadget_node_kernel_memory_bytes",
		"Kernel memory (eBPF maps) the started traces of this node take, as their gadgets estimate it from their parameters.")
	s.nodeKmemBudget = s.gauge("gadget_node_kernel_memory_budget_bytes",
		"Budget for the kernel memory of the started traces of this node (gadgetd --kernel-memory-budget); 0 when unlimited.")
	s.nodeRefused = s.counterVec("gadget_node_traces_refused_total",
		"Trace starts refused by the node's budget, by reason (max-traces, kernel-memory).", "reason")
	s.trafficEdges = s.gauge("gadget_traffic_edges", "Label sets (edges) of the per-edge traffic counters kept so far.")
	s.trafficLimit = s.gauge("gadget_traffic_edges_limit",
		"Cap on the label sets of the per-edge traffic counters (--traffic-metrics-limit); 0 when traffic metrics are off.")
	s.trafficDropped = s.counter("gadget_traffic_edges_dropped_total",
		"Label sets (edges) of the per-edge traffic counters not kept because the cap was reached.")
	for _, info := range gadgets {
		if err := info.Validate(); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		for _, m := range info.Metrics {
			if _, dup := s.gadgetMetrics[m.Name]; dup {
				return nil, fmt.Errorf("metrics: %s is declared by gadgets %s and %s", m.Name, s.gadgetByMetric[m.Name], info.Name)
			}
			s.gadgetMetrics[m.Name] = m
			s.gadgetByMetric[m.Name] = info.Name
			if m.Traffic && !opts.Traffic {
				continue // not exported at all
			}
			switch m.Kind {
			case gadget.MetricGauge:
				s.gadgetGauges[m.Name] = s.gaugeVec(m.Name, m.Help, append([]string{"trace"}, m.Labels...)...)
			case gadget.MetricCounter:
				s.gadgetCounters[m.Name] = s.counterVec(m.Name, m.Help, m.Labels...)
			}
		}
	}
	var errs []error
	adopt(reg, &s.traces, &errs)
	adopt(reg, &s.targets, &errs)
	adopt(reg, &s.attach, &errs)
	adopt(reg, &s.batches, &errs)
	adopt(reg, &s.stage, &errs)
	adopt(reg, &s.pluginCalls, &errs)
	adopt(reg, &s.pluginErrors, &errs)
	adopt(reg, &s.pluginTimeouts, &errs)
	adopt(reg, &s.pluginRestarts, &errs)
	adopt(reg, &s.streamReaders, &errs)
	adopt(reg, &s.streamDropped, &errs)
	adopt(reg, &s.streamRefused, &errs)
	adopt(reg, &s.streamTimeouts, &errs)
	adopt(reg, &s.nodeTraces, &errs)
	adopt(reg, &s.nodeMaxTraces, &errs)
	adopt(reg, &s.nodeKmem, &errs)
	adopt(reg, &s.nodeKmemBudget, &errs)
	adopt(reg, &s.nodeRefused, &errs)
	adopt(reg, &s.trafficEdges, &errs)
	adopt(reg, &s.trafficLimit, &errs)
	adopt(reg, &s.trafficDropped, &errs)
	for name := range s.gadgetGauges {
		g := s.gadgetGauges[name]
		adopt(reg, &g, &errs)
		s.gadgetGauges[name] = g
	}
	for name := range s.gadgetCounters {
		c := s.gadgetCounters[name]
		adopt(reg, &c, &errs)
		s.gadgetCounters[name] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics: register: %w", err)
	}
	if opts.Traffic {
		s.trafficLimit.Set(float64(opts.TrafficLimit))
	}
	return s, nil
}

// adopt registers *c on reg; when reg already has an equal collector (a
// second Set of the same process, e.g. two agents in one test binary),
// *c becomes that one, so that both Sets report into the same series.
func adopt[C prometheus.Collector](reg prometheus.Registerer, c *C, errs *[]error) {
	err := reg.Register(*c)
	if err == nil {
		return
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return
		}
	}
	*errs = append(*errs, err)
}

// TraceCreated counts a new, stopped trace of gadget.
func (s *Set) TraceCreated(gadgetName string) {
	if s == nil {
		return
	}
	s.traces.WithLabelValues(gadgetName, "Stopped").Inc()
}

// TraceState moves a trace of gadget from state from to state to (e.g.
// "Stopped" to "Started"); an empty to forgets the trace.
func (s *Set) TraceState(gadgetName, from, to string) {
	if s == nil || from == to {
		return
	}
	if from != "" {
		s.traces.WithLabelValues(gadgetName, from).Dec()
	}
	if to != "" {
		s.traces.WithLabelValues(gadgetName, to).Inc()
	}
}

// TargetsAttached adds delta (maybe negative) to the targets the traces of
// gadget watch.
func (s *Set) TargetsAttached(gadgetName string, delta int) {
	if s == nil || delta == 0 {
		return
	}
	s.targets.WithLabelValues(gadgetName).Add(float64(delta))
}

// Attached records that attaching an instance of gadget to one target
// took d.
func (s *Set) Attached(gadgetName string, d time.Duration) {
	if s == nil {
		return
	}
	s.attach.WithLabelValues(gadgetName).Observe(d.Seconds())
}

// Batch counts one batch emitted by an instance of gadget.
func (s *Set) Batch(gadgetName string) {
	if s == nil {
		return
	}
	s.batches.WithLabelValues(gadgetName).Inc()
}

// Stage records that a batch of gadget spent the time since start in
// stage (StageEmit, StageOutput, ...).
func (s *Set) Stage(gadgetName, stage string, start time.Time) {
	if s == nil {
		return
	}
	s.stage.WithLabelValues(gadgetName, stage).Observe(time.Since(start).Seconds())
}

// PluginCall counts one call of the plugin name of kind (enricher,
// formatter) and its outcome: failed, and failed for want of time.
func (s *Set) PluginCall(name, kind string, failed, timedOut bool) {
	if s == nil {
		return
	}
	s.pluginCalls.WithLabelValues(name, kind).Inc()
	if failed {
		s.pluginErrors.WithLabelValues(name, kind).Inc()
	}
	if timedOut {
		s.pluginTimeouts.WithLabelValues(name, kind).Inc()
	}
}

// PluginRestarted counts one restart of the go-plugin process of name.
func (s *Set) PluginRestarted(name string) {
	if s == nil {
		return
	}
	s.pluginRestarts.WithLabelValues(name).Inc()
}

// StreamReader adds delta (+1 on connect, -1 when done) to the readers of
// the stream server.
func (s *Set) StreamReader(delta int) {
	if s == nil {
		return
	}
	s.streamReaders.Add(float64(delta))
}

// StreamRefused counts a stream reader refused for the reader limit.
func (s *Set) StreamRefused() {
	if s == nil {
		return
	}
	s.streamRefused.Inc()
}

// StreamWriteTimeout counts a stream reader cut off by the write timeout.
func (s *Set) StreamWriteTimeout() {
	if s == nil {
		return
	}
	s.streamTimeouts.Inc()
}

// Reasons of gadget_node_traces_refused_total.
const (
	RefusedMaxTraces    = "max-traces"
	RefusedKernelMemory = "kernel-memory"
)

// NodeBudget reports what the started traces of the node take of its
// budget: traces of maxTraces, kmem bytes of kmemBudget (0: unlimited).
func (s *Set) NodeBudget(traces, maxTraces int, kmem, kmemBudget uint64) {
	if s == nil {
		return
	}
	s.nodeTraces.Set(float64(traces))
	s.nodeMaxTraces.Set(float64(maxTraces))
	s.nodeKmem.Set(float64(kmem))
	s.nodeKmemBudget.Set(float64(kmemBudget))
}

// NodeRefused counts a trace start the node's budget refused, for reason
// (RefusedMaxTraces, RefusedKernelMemory).
func (s *Set) NodeRefused(reason string) {
	if s == nil {
		return
	}
	s.nodeRefused.WithLabelValues(reason).Inc()
}

// StreamDropped counts n batches a slow stream reader missed.
func (s *Set) StreamDropped(n uint64) {
	if s == nil || n == 0 {
		return
	}
	s.streamDropped.Add(float64(n))
}

// Gadget returns the gadget.Metrics of one trace (called trace) of the
// gadget gadgetName; Close it when the trace stops to remove the trace's
// gauges. It is never nil: on a nil *Set it keeps nothing.
func (s *Set) Gadget(gadgetName, trace string) *GadgetMetrics {
	return &GadgetMetrics{set: s, gadget: gadgetName, trace: trace}
}

// GadgetMetrics is the gadget.Metrics of one trace.
type GadgetMetrics struct {
	set    *Set
	gadget string
	trace  string
}

var _ gadget.Metrics = (*GadgetMetrics)(nil)

// owned returns the declaration of name if the trace's gadget declared it.
func (g *GadgetMetrics) owned(name string, labels []string) (gadget.Metric, bool) {
	if g.set == nil || g.set.gadgetByMetric[name] != g.gadget {
		return gadget.Metric{}, false
	}
	m := g.set.gadgetMetrics[name]
	return m, len(labels) == len(m.Labels)
}

// Set sets the gauge name of the trace.
func (g *GadgetMetrics) Set(name string, v float64, labels ...string) {
	if _, ok := g.owned(name, labels); !ok {
		return
	}
	if vec := g.set.gadgetGauges[name]; vec != nil {
		vec.WithLabelValues(append([]string{g.trace}, labels...)...).Set(v)
	}
}

// Add adds v to the counter name; a Traffic counter's new label set
// beyond the cap is dropped and counted.
func (g *GadgetMetrics) Add(name string, v float64, labels ...string) {
	m, ok := g.owned(name, labels)
	if !ok || v < 0 {
		return
	}
	vec := g.set.gadgetCounters[name]
	if vec == nil {
		return // a Traffic metric while traffic metrics are off
	}
	if m.Traffic && !g.set.admit(g.gadget, labels) {
		return
	}
	vec.WithLabelValues(labels...).Add(v)
}

// Traffic reports whether traffic metrics are kept.
func (g *GadgetMetrics) Traffic() bool { return g.set != nil && g.set.opts.Traffic }

// Close removes the gauges of the trace.
func (g *GadgetMetrics) Close() {
	if g.set == nil {
		return
	}
	for name, vec := range g.set.gadgetGauges {
		if g.set.gadgetByMetric[name] == g.gadget {
			vec.DeletePartialMatch(prometheus.Labels{"trace": g.trace})
		}
	}
}

// admit reports whether the traffic label set of gadget may be kept: it
// is known, or there is room under the cap. Label sets are shared by the
// traffic counters of a gadget (packets and bytes of one edge count once).
func (s *Set) admit(gadgetName string, labels []string) bool {
	key := gadgetName + "\x00" + strings.Join(labels, "\x00")
	s.trafficMu.Lock()
	defer s.trafficMu.Unlock()
	if s.trafficSeen[key] {
		return true
	}
	if len(s.trafficSeen) < s.opts.TrafficLimit {
		s.trafficSeen[key] = true
		s.trafficEdges.Set(float64(len(s.trafficSeen)))
		return true
	}
	if !s.trafficRefused[key] {
		if len(s.trafficRefused) < maxRefused {
			s.trafficRefused[key] = true
		}
		s.trafficDropped.Inc()
	}
	if !s.trafficWarned {
		s.trafficWarned = true
		s.log.Warn("traffic metrics: cap reached, new edges are not counted; raise --traffic-metrics-limit or count them in gadget_traffic_edges_dropped_total",
			"limit", s.opts.TrafficLimit)
	}
	return false
}

// Description describes one metric of a Set, for documentation and
// dashboards.
type Description struct {
	Name   string
	Type   string // counter, gauge or histogram
	Help   string
	Labels []string
}

// Descriptions returns the metrics s exports, in registration order.
func (s *Set) Descriptions() []Description {
	if s == nil {
		return nil
	}
	return slices.Clone(s.descriptions)
}

// Describe returns every metric a Set of gadgets exports with traffic
// metrics on.
func Describe(gadgets []*gadget.Info) ([]Description, error) {
	s, err := New(prometheus.NewRegistry(), gadgets, Options{Traffic: true})
	if err != nil {
		return nil, err
	}
	return s.Descriptions(), nil
}

// latencyBuckets are the buckets of the latency histograms, in seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func (s *Set) describe(name, typ, help string, labels []string) {
	s.descriptions = append(s.descriptions, Description{Name: name, Type: typ, Help: help, Labels: labels})
}

func (s *Set) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	s.describe(name, "gauge", help, labels)
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}

func (s *Set) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	s.describe(name, "counter", help, labels)
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func (s *Set) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	s.describe(name, "histogram", help, labels)
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
}

func (s *Set) gauge(name, help string) prometheus.Gauge {
	s.describe(name, "gauge", help, nil)
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func (s *Set) counter(name, help string) prometheus.Counter {
	s.describe(name, "counter", help, nil)
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}
