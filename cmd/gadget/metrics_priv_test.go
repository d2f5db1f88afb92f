package main

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/internal/testenv"
)

var metricsLine = regexp.MustCompile(`metrics: (http://\S+)`)

// startRun runs gadget run network-graph on client and server with args
// added, and returns the addresses it prints for the metrics and the
// live view, and its stderr. The run stops when the test ends.
func startRun(t *testing.T, client, server *testenv.Netns, args ...string) (metricsURL, webURL string, stderr *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	e := defaultEnv()
	stderr = &lockedBuffer{}
	e.stdout, e.stderr = io.Discard, stderr
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, append([]string{"run", "network-graph", "--netns", client.Name(), "--netns", server.Name(),
			"--interval", "200ms", "-o", "jsonl", "--web", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0"}, args...), e)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("gadget run: exit code %d\n%s", code, stderr.String())
		}
	})
	webURL = waitURL(t, stderr, done)
	m := metricsLine.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("gadget run printed no 'metrics:' address:\n%s", stderr.String())
	}
	return m[1], webURL, stderr
}

// waitMetric scrapes url until cond holds on what it reads, for 20s.
func waitMetric(t *testing.T, url, what string, cond func(metricstest.Families) bool) metricstest.Families {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f := metricstest.Scrape(t, url)
		if cond(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen on %s within 20s", what, url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMetricsPrivileged runs network-graph over two netns "pods" with
// --metrics-address, --web and --traffic-metrics, makes TCP and UDP
// traffic of known size between them, and scrapes both /metrics
// endpoints: the trace, its two targets, its batches and stages, the
// kernel map, and the per-edge counters of exactly that traffic.
func TestMetricsPrivileged(t *testing.T) {
	testenv.RequirePrivileged(t)
	client, server := testenv.NewNetns(t, "mx-client"), testenv.NewNetns(t, "mx-server")
	link := testenv.Link(t, client, server)
	tcpAddr := net.JoinHostPort(link.B4.String(), "8080")
	udpAddr := net.JoinHostPort(link.B4.String(), "5353")
	server.TCPEchoServer(t, tcpAddr)
	server.UDPEchoServer(t, udpAddr)

	metricsURL, webURL, _ := startRun(t, client, server, "--traffic-metrics")
	ng := map[string]string{"gadget": "network-graph"}
	waitMetric(t, metricsURL, "a started trace", func(f metricstest.Families) bool {
		v, _ := f.Value("gadget_traces", map[string]string{"gadget": "network-graph", "state": "Started"})
		return v == 1
	})

	// The traffic: 7 UDP datagrams of 100 bytes, 3 TCP exchanges of 1000.
	const datagrams, size = 7, 100
	client.UDPExchange(t, udpAddr, datagrams, size)
	for range 3 {
		client.TCPExchange(t, tcpAddr, 1000)
	}
	udpOut := map[string]string{"pod": client.Name(), "protocol": "udp", "port": "5353", "direction": "outgoing", "remote": server.Name()}
	udpIn := map[string]string{"pod": server.Name(), "protocol": "udp", "port": "5353", "direction": "incoming", "remote": client.Name()}
	tcpOut := map[string]string{"pod": client.Name(), "protocol": "tcp", "port": "8080", "direction": "outgoing", "remote": server.Name()}
	// The traffic counters move as a batch is read, the stage timings and
	// map gauges once it has gone through the pipeline: wait for both, or
	// a scrape in between (a busy machine) misses the latter.
	f := waitMetric(t, metricsURL, "the TCP and UDP edges' traffic, through the pipeline", func(f metricstest.Families) bool {
		u, _ := f.Value("gadget_network_graph_packets_total", udpOut)
		v, _ := f.Value("gadget_network_graph_packets_total", udpIn)
		w, _ := f.Value("gadget_network_graph_bytes_total", tcpOut)
		staged := true
		for _, stage := range []string{"emit", "web", "output"} {
			_, ok := f.Value("gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "network-graph", "stage": stage})
			staged = staged && ok
		}
		edges, _ := f.Value("gadget_network_graph_map_edges", map[string]string{"trace": "network-graph"})
		return u >= datagrams && v >= datagrams && w >= 3*1000 && staged && edges >= 4
	})
	udpPackets, _ := f.Value("gadget_network_graph_packets_total", udpOut)
	t.Logf("traffic series: %v", f.Series("gadget_network_graph_packets_total"))

	// An edge counts both ways: the datagrams and their answers.
	if udpPackets != 2*datagrams {
		t.Errorf("udp/5353 outgoing packets = %v, want %d: the %d datagrams and their answers", udpPackets, 2*datagrams, datagrams)
	}
	if v, _ := f.Value("gadget_network_graph_bytes_total", udpOut); v < datagrams*size {
		t.Errorf("udp/5353 outgoing bytes = %v, want at least the %d payload bytes", v, datagrams*size)
	}
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
		max    float64
	}{
		{"gadget_traces", map[string]string{"gadget": "network-graph", "state": "Started"}, 1, 1},
		{"gadget_targets_attached", ng, 2, 2},
		{"gadget_attach_duration_seconds", ng, 2, 2}, // the histogram's count
		{"gadget_batches_total", ng, 1, 1e9},
		{"gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "network-graph", "stage": "emit"}, 1, 1e9},
		{"gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "network-graph", "stage": "web"}, 1, 1e9},
		{"gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "network-graph", "stage": "output"}, 1, 1e9},
		{"gadget_network_graph_map_capacity", map[string]string{"trace": "network-graph"}, 1, 1e9},
		// At least the 4 edges made here (both ends of TCP and UDP).
		{"gadget_network_graph_map_edges", map[string]string{"trace": "network-graph"}, 4, 1e9},
		{"gadget_network_graph_packets_not_recorded_total", nil, 0, 0},
		{"gadget_traffic_edges", nil, 4, 1e9},
		{"gadget_traffic_edges_limit", nil, 10000, 10000},
		{"gadget_traffic_edges_dropped_total", nil, 0, 0},
	}
	for _, c := range checks {
		v, ok := f.Value(c.name, c.labels)
		if !ok && c.max > 0 {
			t.Errorf("%s%v: no such series", c.name, c.labels)
			continue
		}
		if v < c.min || v > c.max {
			t.Errorf("%s%v = %v, want %v..%v", c.name, c.labels, v, c.min, c.max)
		}
	}

	// The live view serves the same metrics.
	w := metricstest.Scrape(t, strings.TrimSuffix(webURL, "/")+"/metrics")
	if v, _ := w.Value("gadget_network_graph_packets_total", udpOut); v < datagrams {
		t.Errorf("--web /metrics: udp/5353 outgoing packets = %v, want at least %d", v, datagrams)
	}
}

// TestMetricsTrafficLimitPrivileged caps the traffic counters at one edge
// and makes four: one is kept, the others are counted as dropped, and the
// run warns once.
func TestMetricsTrafficLimitPrivileged(t *testing.T) {
	testenv.RequirePrivileged(t)
	client, server := testenv.NewNetns(t, "mxl-client"), testenv.NewNetns(t, "mxl-server")
	link := testenv.Link(t, client, server)
	tcpAddr := net.JoinHostPort(link.B4.String(), "8080")
	udpAddr := net.JoinHostPort(link.B4.String(), "5353")
	server.TCPEchoServer(t, tcpAddr)
	server.UDPEchoServer(t, udpAddr)

	metricsURL, _, stderr := startRun(t, client, server, "--traffic-metrics", "--traffic-metrics-limit", "1")
	waitMetric(t, metricsURL, "a started trace", func(f metricstest.Families) bool {
		v, _ := f.Value("gadget_traces", map[string]string{"gadget": "network-graph", "state": "Started"})
		return v == 1
	})
	client.UDPExchange(t, udpAddr, 3, 10)
	client.TCPExchange(t, tcpAddr, 10)
	f := waitMetric(t, metricsURL, "three edges dropped", func(f metricstest.Families) bool {
		v, _ := f.Value("gadget_traffic_edges_dropped_total", nil)
		return v >= 3
	})
	if v, _ := f.Value("gadget_traffic_edges", nil); v != 1 {
		t.Errorf("gadget_traffic_edges = %v, want 1 (the limit)", v)
	}
	if v, _ := f.Value("gadget_traffic_edges_limit", nil); v != 1 {
		t.Errorf("gadget_traffic_edges_limit = %v, want 1", v)
	}
	if _, n := f.Sum("gadget_network_graph_packets_total", nil); n != 1 {
		t.Errorf("%d packet series, want 1: %v", n, f.Series("gadget_network_graph_packets_total"))
	}
	if n := strings.Count(stderr.String(), "cap reached"); n != 1 {
		t.Errorf("%d warnings about the cap, want 1:\n%s", n, stderr.String())
	}
}
