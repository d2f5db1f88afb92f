package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
)

// metricsOptions are the metrics flags of "gadget run".
type metricsOptions struct {
	address      string // --metrics-address ADDR
	traffic      bool
	trafficLimit int
	// set is the run's metrics, once runGadget made them; nil without
	// --metrics-address and --web.
	set *metrics.Set
}

func (m *metricsOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&m.address, "metrics-address", "",
		"serve Prometheus metrics at http://`ADDR`/metrics (HOST:PORT, e.g. 127.0.0.1:9443) while the trace runs; --web serves them too; see docs/metrics.md")
	f.BoolVar(&m.traffic, "traffic-metrics", false,
		"export per-edge traffic counters (pod, namespace, remote, protocol, port, direction labels) with the metrics; off by default: their series grow with the traffic")
	f.IntVar(&m.trafficLimit, "traffic-metrics-limit", metrics.DefaultTrafficLimit,
		"most edges the traffic counters keep; further ones are counted in gadget_traffic_edges_dropped_total")
}

func (m metricsOptions) validate(web string) error {
	if m.trafficLimit < 1 {
		return usagef("--traffic-metrics-limit %d: must be at least 1, e.g. --traffic-metrics-limit %d", m.trafficLimit, metrics.DefaultTrafficLimit)
	}
	if m.traffic && m.address == "" && web == "" {
		return usagef("--traffic-metrics: the metrics are served with --metrics-address ADDR or --web ADDR: add one")
	}
	return nil
}

// runMetrics are the metrics of one run: a registry of their own, served
// on --metrics-address and on the --web page at /metrics.
type runMetrics struct {
	set     *metrics.Set
	handler http.Handler
	ln      net.Listener // nil without --metrics-address
	url     string
	done    chan error
}

// openMetrics creates the run's metrics when o asks for them (nil
// otherwise) and listens on --metrics-address, so that a bad address is a
// usage error before the trace starts.
func openMetrics(reg *registry.Registry, o runOptions, log *slog.Logger) (*runMetrics, error) {
	if o.metrics.address == "" && o.web == "" {
		return nil, nil
	}
	pr := prometheus.NewRegistry()
	pr.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	set, err := metrics.New(pr, reg.All(), metrics.Options{
		Traffic:      o.metrics.traffic,
		TrafficLimit: o.metrics.trafficLimit,
		Logger:       log,
	})
	if err != nil {
		return nil, err
	}
	m := &runMetrics{set: set, handler: promhttp.HandlerFor(pr, promhttp.HandlerOpts{ErrorLog: slogPrinter{log}})}
	if o.metrics.address != "" {
		ln, err := net.Listen("tcp", o.metrics.address)
		if err != nil {
			return nil, usagef("--metrics-address %q: %v: give a free HOST:PORT, e.g. --metrics-address 127.0.0.1:9443", o.metrics.address, err)
		}
		m.ln = ln
		m.url = "http://" + ln.Addr().String() + "/metrics"
	}
	return m, nil
}

// extra are the handlers the live view serves beside its page.
func (m *runMetrics) extra() map[string]http.Handler {
	if m == nil {
		return nil
	}
	return map[string]http.Handler{"GET /metrics": m.handler}
}

// serve serves GET /metrics on --metrics-address until ctx is done.
func (m *runMetrics) serve(ctx context.Context) {
	if m == nil || m.ln == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.done = make(chan error, 1)
	go func() {
		err := srv.Serve(m.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		m.done <- err
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
}

// closeUnserved closes the listener of a run that ended before serving
// it.
func (m *runMetrics) closeUnserved() {
	if m != nil && m.ln != nil && m.done == nil {
		_ = m.ln.Close()
	}
}

// wait returns the error of serve once its ctx is done.
func (m *runMetrics) wait() error {
	if m == nil || m.done == nil {
		return nil
	}
	if err := <-m.done; err != nil {
		return fmt.Errorf("--metrics-address: %w", err)
	}
	return nil
}

// metricsSet is the run's Set; nil keeps nothing.
func (m *runMetrics) metricsSet() *metrics.Set {
	if m == nil {
		return nil
	}
	return m.set
}

// slogPrinter logs promhttp's errors.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics: " + fmt.Sprint(v...)) }
