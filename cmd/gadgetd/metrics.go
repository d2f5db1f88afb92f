package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/internal/kubeauth"
)

// metricsOptions are the flags of the agent's own metrics, served on the
// manager's metrics endpoint (--metrics-bind-address).
type metricsOptions struct {
	traffic      bool
	trafficLimit int
	// secure serves the endpoint over HTTPS to authenticated, authorized
	// requests only (--metrics-secure); certDir holds its certificate.
	secure  bool
	certDir string
}

func (m *metricsOptions) addFlags(fs *flag.FlagSet) {
	fs.BoolVar(&m.traffic, "traffic-metrics", false,
		"export per-edge traffic counters (gadget_network_graph_packets_total, _bytes_total with pod, namespace, remote, protocol, port, "+
			"direction labels); their series grow with the traffic, so they are capped by --traffic-metrics-limit")
	fs.IntVar(&m.trafficLimit, "traffic-metrics-limit", metrics.DefaultTrafficLimit,
		"most edges (label sets) the traffic counters keep; updates of further edges are counted in gadget_traffic_edges_dropped_total")
	fs.BoolVar(&m.secure, "metrics-secure", false,
		"serve the metrics over HTTPS, each request authenticated by its bearer token (a TokenReview) and authorized for get on "+
			"the non-resource URL /metrics (a SubjectAccessReview, e.g. the ClusterRole gadget-metrics-reader of deploy/rbac.yaml) "+
			"with the API server; needed to bind --metrics-bind-address beyond loopback")
	fs.StringVar(&m.certDir, "metrics-cert-dir", "",
		"folder with the certificate (tls.crt) and key (tls.key) of --metrics-secure; empty: a self-signed certificate made at start")
}

// validate checks the metrics flags; addr is --metrics-bind-address.
func (m metricsOptions) validate(addr string) error {
	if m.trafficLimit < 1 {
		return usageError{fmt.Errorf("--traffic-metrics-limit %d: must be at least 1, e.g. --traffic-metrics-limit %d", m.trafficLimit, metrics.DefaultTrafficLimit)}
	}
	if addr == "0" {
		if m.secure || m.certDir != "" {
			return usageError{errors.New("--metrics-secure and --metrics-cert-dir need a metrics endpoint: --metrics-bind-address is 0 (off)")}
		}
		return nil
	}
	loopback, err := onLoopback(addr)
	if err != nil {
		return usageError{fmt.Errorf("--metrics-bind-address %q: want HOST:PORT or :PORT, e.g. 127.0.0.1:9442: %w", addr, err)}
	}
	if !loopback && !m.secure {
		return usageError{fmt.Errorf("--metrics-bind-address %q: without --metrics-secure the endpoint is unauthenticated: "+
			"add --metrics-secure (HTTPS, each request's token checked with the API server) or bind to loopback, e.g. 127.0.0.1:9442", addr)}
	}
	if m.certDir == "" {
		return nil
	}
	if !m.secure {
		return usageError{fmt.Errorf("--metrics-cert-dir %s: only --metrics-secure uses a certificate: add --metrics-secure", m.certDir)}
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if _, err := os.Stat(filepath.Join(m.certDir, f)); err != nil {
			return usageError{fmt.Errorf("--metrics-cert-dir %s: %w: the folder needs tls.crt and tls.key (a kubernetes.io/tls Secret mounted there has both)", m.certDir, err)}
		}
	}
	return nil
}

// server returns the options of the manager's metrics server on addr.
// Secure, it serves HTTPS (certDir's certificate, or a self-signed one)
// and lets in only the requests whose bearer token the API server
// authenticates and authorizes for get on /metrics.
func (m metricsOptions) server(addr string, log *slog.Logger) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr}
	if m.secure {
		o.SecureServing = true
		o.CertDir = m.certDir
		o.FilterProvider = func(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
			r, err := kubeauth.New(cfg, hc, log)
			if err != nil {
				return nil, fmt.Errorf("metrics: %w", err)
			}
			return func(_ logr.Logger, h http.Handler) (http.Handler, error) { return r.Handler(h), nil }, nil
		}
	}
	return o
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
