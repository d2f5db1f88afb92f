package main

import (
	"flag"
	"fmt"
	"log/slog"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
)

// metricsOptions are the flags of the agent's own metrics, served on the
// manager's metrics endpoint (--metrics-bind-address).
type metricsOptions struct {
	traffic      bool
	trafficLimit int
}

func (m *metricsOptions) addFlags(fs *flag.FlagSet) {
	fs.BoolVar(&m.traffic, "traffic-metrics", false,
		"export per-edge traffic counters (gadget_network_graph_packets_total, _bytes_total with pod, namespace, remote, protocol, port, "+
			"direction labels); their series grow with the traffic, so they are capped by --traffic-metrics-limit")
	fs.IntVar(&m.trafficLimit, "traffic-metrics-limit", metrics.DefaultTrafficLimit,
		"most edges (label sets) the traffic counters keep; updates of further edges are counted in gadget_traffic_edges_dropped_total")
}

func (m metricsOptions) validate() error {
	if m.trafficLimit < 1 {
		return usageError{fmt.Errorf("--traffic-metrics-limit %d: must be at least 1, e.g. --traffic-metrics-limit %d", m.trafficLimit, metrics.DefaultTrafficLimit)}
	}
	return nil
}

// newMetrics registers the metrics of the framework and of the gadgets of
// reg on controller-runtime's registry, which the manager serves on its
// metrics endpoint.
func newMetrics(reg *registry.Registry, m metricsOptions, log *slog.Logger) (*metrics.Set, error) {
	set, err := metrics.New(ctrlmetrics.Registry, reg.All(), metrics.Options{
		Traffic:      m.traffic,
		TrafficLimit: m.trafficLimit,
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("gadgetd: %w", err)
	}
	return set, nil
}
