package gadget

import (
	"fmt"
	"regexp"
	"strings"
)

// MetricKind is the Prometheus type of a metric a gadget declares.
type MetricKind string

// The kinds of metric a gadget may declare.
const (
	// MetricGauge is a value that goes up and down, e.g. the edges in a
	// kernel map. The framework adds a "trace" label to it and removes the
	// trace's series when the trace stops.
	MetricGauge MetricKind = "gauge"
	// MetricCounter only goes up, e.g. packets not recorded; its name ends
	// in _total.
	MetricCounter MetricKind = "counter"
)

// Metric declares one measurement a gadget's instances report through
// Config.Metrics, so that the framework can register it before any trace
// runs and document it.
type Metric struct {
	// Name is the full Prometheus name: "gadget_", the gadget's name with
	// '_' for '-', '_', then the metric's own name, e.g.
	// gadget_network_graph_map_edges.
	Name string
	// Help is the one-line description shown by Prometheus.
	Help string
	// Kind is gauge or counter.
	Kind MetricKind
	// Labels are the label names the instance gives values for, in order.
	Labels []string
	// Traffic marks a per-edge traffic counter: the framework keeps it
	// only when traffic metrics are turned on (off by default), and its
	// label sets count against the traffic cardinality cap.
	Traffic bool
}

// Metrics receives the measurements of one instance. The framework
// implements it; it is safe for concurrent use, and cheap: an instance may
// call it on every drain.
type Metrics interface {
	// Set sets the gauge name to v for the label values given in the
	// order of its Labels. Undeclared names are ignored.
	Set(name string, v float64, labels ...string)
	// Add adds v (>= 0) to the counter name for the label values given in
	// the order of its Labels. Undeclared names are ignored.
	Add(name string, v float64, labels ...string)
	// Traffic reports whether the Traffic metrics are kept: when false,
	// the instance need not compute them.
	Traffic() bool
}

// NoMetrics is the Metrics that keeps nothing, for an instance created
// without Config.Metrics.
type NoMetrics struct{}

// Set does nothing.
func (NoMetrics) Set(string, float64, ...string) {}

// Add does nothing.
func (NoMetrics) Add(string, float64, ...string) {}

// Traffic is false.
func (NoMetrics) Traffic() bool { return false }

var (
	metricNamePattern  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	metricLabelPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// MetricPrefix is the prefix of the metrics of the gadget called name,
// e.g. "gadget_network_graph_".
func MetricPrefix(name string) string {
	return "gadget_" + strings.ReplaceAll(name, "-", "_") + "_"
}

// validateMetrics checks the declared metrics of i.
func (i *Info) validateMetrics() error {
	seen := map[string]bool{}
	prefix := MetricPrefix(i.Name)
	for _, m := range i.Metrics {
		switch {
		case !metricNamePattern.MatchString(m.Name) || !strings.HasPrefix(m.Name, prefix):
			return fmt.Errorf("metric %q: Name must be lower-case, start with %s, e.g. %smap_edges", m.Name, prefix, prefix)
		case seen[m.Name]:
			return fmt.Errorf("metric %q is declared twice", m.Name)
		case m.Help == "":
			return fmt.Errorf("metric %q has no Help", m.Name)
		case m.Kind != MetricGauge && m.Kind != MetricCounter:
			return fmt.Errorf("metric %q: Kind %q: use gauge or counter", m.Name, m.Kind)
		case m.Kind == MetricCounter && !strings.HasSuffix(m.Name, "_total"):
			return fmt.Errorf("metric %q: a counter's name ends in _total", m.Name)
		case m.Kind == MetricGauge && strings.HasSuffix(m.Name, "_total"):
			return fmt.Errorf("metric %q: only a counter's name ends in _total", m.Name)
		case m.Traffic && m.Kind != MetricCounter:
			return fmt.Errorf("metric %q: a Traffic metric is a counter", m.Name)
		}
		for _, l := range m.Labels {
			if !metricLabelPattern.MatchString(l) || l == "trace" || strings.HasPrefix(l, "__") {
				return fmt.Errorf("metric %q: label %q: use lower-case names other than trace (the framework adds it to gauges)", m.Name, l)
			}
		}
		seen[m.Name] = true
	}
	return nil
}
