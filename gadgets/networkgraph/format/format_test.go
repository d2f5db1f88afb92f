package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func edge(pod, pktType, proto, ip string, port int, packets, bytes uint64) types.Event {
	return types.Event{
		Event:   eventtypes.Event{Node: "node1", Pod: pod},
		PktType: pktType, Proto: proto, IP: ip, Port: port,
		Packets: packets, Bytes: bytes,
	}
}

func withPodIP(e types.Event, ip string) types.Event {
	e.PodIP = ip
	return e
}

// named is an edge of pod shop/web-7d9, labelled and enriched as on a
// cluster, edited by edit when not nil.
func named(pktType, proto, ip string, port int, edit func(*types.Event)) types.Event {
	e := types.Event{
		Event:   eventtypes.Event{Node: "worker-1", Namespace: "shop", Pod: "web-7d9"},
		PktType: pktType, Proto: proto, IP: ip, Port: port, Packets: 2, Bytes: 120,
		PodIP: "10.244.1.4", PodHostIP: "192.168.1.10", PodOwner: "Deployment/web",
		PodLabels: map[string]string{"app": "web", "pod-template-hash": "7d9"},
	}
	if edit != nil {
		edit(&e)
	}
	return e
}

func warn(pod, msg string) types.Event {
	e := types.Event{Event: eventtypes.Warn("node1", msg)}
	e.Pod = pod
	return e
}

// cases are the batch sequences every format is rendered from.
var cases = []struct {
	name    string
	batches [][]types.Event
}{
	{name: "empty"},
	{
		name: "demo",
		batches: [][]types.Event{
			{
				withPodIP(edge("frontend", types.PktTypeOutgoing, "tcp", "10.77.0.3", 8080, 6, 420), "10.77.0.2"),
				withPodIP(edge("frontend", types.PktTypeOutgoing, "tcp", "fd77::3", 8080, 6, 540), "10.77.0.2"),
				withPodIP(edge("frontend", types.PktTypeOutgoing, "udp", "10.77.0.5", 53, 2, 90), "10.77.0.2"),
				withPodIP(edge("api", types.PktTypeHost, "tcp", "10.77.0.2", 8080, 6, 900), "10.77.0.3"),
				withPodIP(edge("api", types.PktTypeOutgoing, "tcp", "10.77.0.4", 5432, 4, 300), "10.77.0.3"),
				warn("api", "3 edges dropped:\nthe edge map is full"),
			},
			{
				withPodIP(edge("frontend", types.PktTypeOutgoing, "tcp", "10.77.0.3", 8080, 4, 280), "10.77.0.2"),
				withPodIP(edge("db", types.PktTypeHost, "tcp", "10.77.0.3", 5432, 4, 250), "10.77.0.4"),
				withPodIP(edge("dns", types.PktTypeHost, "udp", "fd77::2", 53, 2, 100), "10.77.0.5"),
				withPodIP(edge("frontend", types.PktTypeOutgoing, "icmp", "10.77.0.9", 0, 1, 84), "10.77.0.2"),
				{Event: eventtypes.Err("node1", "attach to netns gdemo-x: no such file")},
			},
		},
	},
	{
		name: "annotated",
		batches: [][]types.Event{{
			withAnnotations(edge("frontend", types.PktTypeOutgoing, "udp", "10.77.0.5", 53, 2, 90),
				map[string]string{"portnames/service": "dns", "geo/country": "NL"}),
			edge("frontend", types.PktTypeOutgoing, "tcp", "10.77.0.3", 8080, 6, 420),
		}},
	},
	{
		name: "enriched",
		batches: [][]types.Event{{
			{
				Event:   eventtypes.Event{Node: "worker-1", Namespace: "shop", Pod: "web-7d9"},
				PktType: types.PktTypeOutgoing, Proto: "tcp", IP: "10.96.0.10", Port: 443,
				RemoteKind: types.RemoteKindSvc, RemoteSvcNamespace: "shop", RemoteSvcName: "payments",
				Packets: 10, Bytes: 1000, FirstSeen: t0, LastSeen: t0.Add(2 * time.Second),
			},
			{
				Event:   eventtypes.Event{Node: "worker-1", Namespace: "shop", Pod: "web-7d9"},
				PktType: types.PktTypeOutgoing, Proto: "tcp", IP: "10.244.1.5", Port: 6379,
				RemoteKind: types.RemoteKindPod, RemotePodNamespace: "shop", RemotePodName: "redis-0",
				Packets: 3, Bytes: 200,
			},
			{
				Event:   eventtypes.Event{Node: "worker-1", Namespace: "shop", Pod: "web-7d9"},
				PktType: types.PktTypeOutgoing, Proto: "tcp", IP: "93.184.215.14", Port: 443,
				RemoteKind: types.RemoteKindOther, RemoteOther: "example.com",
				Packets: 8, Bytes: 5000,
			},
		}},
	},
	{
		// DNS names of remote addresses and a labelled, enriched pod: what
		// the networkpolicy and ciliumnetworkpolicy formats turn into rules.
		name: "named",
		batches: [][]types.Event{{
			named(types.PktTypeOutgoing, "tcp", "10.244.1.5", 6379, func(e *types.Event) {
				e.RemoteKind, e.RemotePodNamespace, e.RemotePodName = types.RemoteKindPod, "shop", "redis-0"
				e.RemotePodLabels = map[string]string{"app": "redis", "controller-revision-hash": "r1"}
			}),
			named(types.PktTypeOutgoing, "tcp", "10.96.0.10", 443, func(e *types.Event) {
				e.RemoteKind, e.RemoteSvcNamespace, e.RemoteSvcName = types.RemoteKindSvc, "pay", "payments"
				e.RemoteSvcLabelSelector = map[string]string{"app": "payments"}
			}),
			named(types.PktTypeOutgoing, "tcp", "10.96.0.20", 5432, func(e *types.Event) {
				e.RemoteKind, e.RemoteSvcNamespace, e.RemoteSvcName = types.RemoteKindSvc, "shop", "external-db"
			}),
			named(types.PktTypeOutgoing, "tcp", "93.184.215.14", 443, func(e *types.Event) {
				e.RemoteKind, e.RemoteOther, e.RemoteName = types.RemoteKindOther, "93.184.215.14", "example.com"
			}),
			named(types.PktTypeOutgoing, "tcp", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443, func(e *types.Event) {
				e.RemoteName = "example.com"
			}),
			named(types.PktTypeOutgoing, "tcp", "203.0.113.7", 8443, func(e *types.Event) {
				e.RemoteName, e.RemoteNameStale = "old.example.net", true
			}),
			named(types.PktTypeOutgoing, "udp", "198.51.100.9", 123, nil),
			named(types.PktTypeOutgoing, "udp", "2001:db8::53", 53, nil),
			named(types.PktTypeHost, "tcp", "10.244.2.8", 8080, func(e *types.Event) {
				e.RemoteKind, e.RemotePodNamespace, e.RemotePodName = types.RemoteKindPod, "ingress", "nginx-1"
				e.RemotePodLabels = map[string]string{"app": "nginx"}
			}),
			named(types.PktTypeHost, "tcp", "192.168.1.10", 8080, nil),
			named(types.PktTypeHost, "tcp", "2001:db8::7", 8080, func(e *types.Event) {
				e.RemoteName = "monitor.example.org"
			}),
		}},
	},
	{
		name: "escaping",
		batches: [][]types.Event{{
			edge(`we"ird\pod`, types.PktTypeOutgoing, "udp", "fd77::1", 53, 1, 60),
			{
				Event:   eventtypes.Event{Pod: "tab\tpod"},
				PktType: types.PktTypeHost, Proto: "tcp", IP: "not an ip", Port: 22,
				RemoteKind: types.RemoteKindOther, RemoteOther: "line\nbreak \"quoted\"",
			},
		}},
	},
}

// TestGolden renders every case in every format and compares stdout and
// stderr with testdata/<case>.<format>.golden. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	for _, c := range cases {
		for _, name := range Names() {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				var out, errw bytes.Buffer
				o, err := New(name, &out, &errw)
				if err != nil {
					t.Fatalf("New(%q): %v", name, err)
				}
				for _, b := range c.batches {
					if err := o.Batch(b); err != nil {
						t.Fatalf("Batch: %v", err)
					}
				}
				if err := o.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				got := "-- stdout --\n" + out.String() + "-- stderr --\n" + errw.String()
				path := filepath.Join("testdata", c.name+"."+name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("read golden file (run go test -update to create it): %v", err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
				}
			})
		}
	}
}

// TestGoldenDOTIsValid feeds the golden DOT files to Graphviz when it is
// installed.
func TestGoldenDOTIsValid(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("needs Graphviz's dot in PATH (apt-get install graphviz)")
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.dot.golden"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src, _, _ := strings.Cut(strings.TrimPrefix(string(b), "-- stdout --\n"), "-- stderr --\n")
		cmd := exec.Command(dot, "-Tsvg", "-o", os.DevNull)
		cmd.Stdin = strings.NewReader(src)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: dot rejects it: %v\n%s", f, err, out)
		}
	}
}

// TestJSONRoundTrip checks that json is the unique graph and jsonl every
// event of every batch, both decodable back into events.
func TestJSONRoundTrip(t *testing.T) {
	demo := cases[1].batches
	var all []types.Event
	for _, b := range demo {
		all = append(all, b...)
	}

	var out bytes.Buffer
	o, _ := New(JSON, &out, new(bytes.Buffer))
	for _, b := range demo {
		if err := o.Batch(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	var got []types.Event
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("json output does not decode: %v", err)
	}
	want := types.Unique(all)
	if len(got) != len(want) {
		t.Fatalf("json has %d events, want the %d unique ones", len(got), len(want))
	}
	var packets uint64
	for _, e := range got {
		if e.Pod == "frontend" && e.Proto == "tcp" && e.IP == "10.77.0.3" {
			packets = e.Packets
		}
	}
	if packets != 10 {
		t.Errorf("merged edge has %d packets, want 6+4=10", packets)
	}

	out.Reset()
	o, _ = New(JSONL, &out, new(bytes.Buffer))
	for _, b := range demo {
		if err := o.Batch(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(all) {
		t.Fatalf("jsonl has %d lines, want one per event: %d", len(lines), len(all))
	}
	for i, l := range lines {
		var e types.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("line %d does not decode: %v: %s", i+1, err, l)
		}
	}
}

func TestNewUnknownFormat(t *testing.T) {
	for _, name := range []string{"", "yaml", "TABLE"} {
		_, err := New(name, new(bytes.Buffer), new(bytes.Buffer))
		if !errors.Is(err, gadget.ErrUnknownFormat) {
			t.Errorf("New(%q) = %v, want an error wrapping gadget.ErrUnknownFormat", name, err)
			continue
		}
		for _, valid := range Names() {
			if !strings.Contains(err.Error(), valid) {
				t.Errorf("New(%q) error %q does not list %q", name, err, valid)
			}
		}
	}
}

func TestBatchErrors(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			o, err := New(name, new(bytes.Buffer), new(bytes.Buffer))
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Batch([]string{"not", "events"}); err == nil || !strings.Contains(err.Error(), "[]types.Event") {
				t.Errorf("Batch([]string) = %v, want an error naming the expected type", err)
			}
			if err := o.Batch(types.Event{}); err != nil {
				t.Errorf("Batch(types.Event) = %v, want nil", err)
			}
			if err := o.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := o.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
			if err := o.Batch([]types.Event{}); !errors.Is(err, ErrClosed) {
				t.Errorf("Batch after Close = %v, want ErrClosed", err)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	batch := []types.Event{edge("a", types.PktTypeOutgoing, "tcp", "10.0.0.1", 80, 1, 1)}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			o, _ := New(name, failingWriter{}, new(bytes.Buffer))
			err := o.Batch(batch)
			if err == nil {
				err = o.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("got %v, want the writer's error", err)
			}
		})
	}
}

func TestDOTQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"frontend", `"frontend"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb", `"a\nb"`},
		{"a\r\nb", `"a\nb"`},
		{"fd77::1", `"fd77::1"`},
	}
	for _, tt := range tests {
		if got := dotQuote(tt.in); got != tt.want {
			t.Errorf("dotQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCompareIP(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"10.0.0.2", "10.0.0.10", -1},
		{"10.0.0.10", "fd77::1", -1},
		{"fd77::2", "fd77::10", -1},
		{"fd77::1", "fd77::1", 0},
		{"10.0.0.1", "", -1},
		{"abc", "abd", -1},
	}
	for _, tt := range tests {
		if got := compareIP(tt.a, tt.b); got != tt.want {
			t.Errorf("compareIP(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareIP(tt.b, tt.a); got != -tt.want {
			t.Errorf("compareIP(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestMessageLine(t *testing.T) {
	tests := []struct {
		e    types.Event
		want string
	}{
		{types.Event{Event: eventtypes.Warn("", "map full")}, "warning: map full"},
		{types.Event{Event: eventtypes.Err("n1", "attach failed")}, "error: node n1: attach failed"},
		{types.Event{Event: eventtypes.Event{Type: eventtypes.WARN, Namespace: "ns", Pod: "p", Message: "two\nlines"}}, "warning: pod ns/p: two lines"},
		{types.Event{Event: eventtypes.Event{Type: eventtypes.WARN}}, "warning: (no message)"},
	}
	for _, tt := range tests {
		if got := messageLine(tt.e); got != tt.want {
			t.Errorf("messageLine(%+v) = %q, want %q", tt.e.Event, got, tt.want)
		}
	}
}

func withAnnotations(e types.Event, a map[string]string) types.Event {
	e.Annotations = a
	return e
}
