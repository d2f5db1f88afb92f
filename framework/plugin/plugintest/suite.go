package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Host is one plugin host under test: it opens the conformance plugins
// of plugins/conformance (formatter and enricher) in that host.
type Host struct {
	// Name names the host in test and benchmark names, e.g. "wasm".
	Name string
	// Formatter opens the conformance formatter; the suite closes it.
	Formatter func(tb testing.TB) plugin.Formatter
	// Enricher opens the conformance enricher; the suite closes it.
	Enricher func(tb testing.TB) plugin.Enricher
}

// twoEvents is a batch of two network-graph edges.
const twoEvents = `[{"node":"n1","namespace":"demo","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.1","port":80},` +
	`{"node":"n1","namespace":"demo","pod":"web","pktType":"HOST","proto":"udp","ip":"10.0.0.2","port":53,"packets":3}]`

// samples are the batches of the checks of `gadget plugin test`, here of
// a gadget of the suite's own: the conformance plugins read any event.
var samples = plugincheck.Samples{
	Ordinary: twoEvents,
	Unusual: `[{"type":"warn","node":"n1","message":"12 edges dropped: the map is full"},` +
		`{"node":"n1","pod":"p\u00e9 \"q\"","ip":"fe80::1%eth0","port":65535,"podLabels":{"app":"a,b"},` + plugincheck.UnknownField + `}]`,
}

// formatCases are the formatter's inputs and the output every host must
// give.
var formatCases = []struct {
	name   string
	batch  plugin.Batch
	params map[string]string
	want   string
}{
	{
		name:   "two events",
		batch:  plugin.Batch{Gadget: "network-graph", Sequence: 2, Events: []byte(twoEvents)},
		params: map[string]string{"b": "2", "a": "1"},
		want:   "network-graph #2 final=false events=2 params=a=1,b=2\n10.0.0.1 80\n10.0.0.2 53\n",
	},
	{
		name:  "empty final batch",
		batch: plugin.Batch{Gadget: "network-graph", Sequence: 1, Final: true, Events: []byte("[]")},
		want:  "network-graph #1 final=true events=0 params=\n",
	},
	{
		name:   "unicode and escapes",
		batch:  plugin.Batch{Gadget: "g", Sequence: 9, Events: []byte(`[{"ip":"fe80::1%eth0\n\"x\"","port":65535}]`)},
		params: map[string]string{"k": "é"},
		want:   "g #9 final=false events=1 params=k=é\nfe80::1%eth0\n\"x\" 65535\n",
	},
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Host) {
	ctx := context.Background()
	t.Run("formatter", func(t *testing.T) {
		f := h.Formatter(t)
		t.Cleanup(func() { _ = f.Close() })
		m := f.Manifest()
		if m.Name != "conformance" || m.Kind != abi.KindFormatter || m.ContractVersion != abi.ContractVersion || m.MediaType != "text/plain" {
			t.Fatalf("Manifest() = %+v, want the conformance formatter's", m)
		}
		for _, c := range formatCases {
			t.Run(c.name, func(t *testing.T) {
				got, err := f.Format(ctx, c.batch, c.params)
				if err != nil {
					t.Fatalf("Format: %v", err)
				}
				if string(got.Data) != c.want || got.MediaType != "text/plain" {
					t.Errorf("Format = %q (%s), want %q (text/plain)", got.Data, got.MediaType, c.want)
				}
			})
		}
		t.Run("plugin error", func(t *testing.T) {
			_, err := f.Format(ctx, plugin.Batch{Gadget: "g", Sequence: 7, Events: []byte("[]")}, map[string]string{"fail": "asked to fail"})
			checkFailure(t, err, "conformance", 7, "asked to fail")
			// The plugin goes on after a failed call.
			got, err := f.Format(ctx, formatCases[0].batch, formatCases[0].params)
			if err != nil || string(got.Data) != formatCases[0].want {
				t.Errorf("Format after a failure = %q, %v; want %q", got.Data, err, formatCases[0].want)
			}
		})
		t.Run("concurrent calls", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for i := range 16 {
				wg.Go(func() {
					b := plugin.Batch{Gadget: "g", Sequence: uint64(i + 1), Events: []byte(twoEvents)}
					got, err := f.Format(ctx, b, nil)
					want := fmt.Sprintf("g #%d final=false events=2 params=\n10.0.0.1 80\n10.0.0.2 53\n", i+1)
					if err == nil && string(got.Data) != want {
						err = fmt.Errorf("call %d: got %q, want %q", i, got.Data, want)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	})
	t.Run("enricher", func(t *testing.T) {
		e := h.Enricher(t)
		t.Cleanup(func() { _ = e.Close() })
		m := e.Manifest()
		if m.Name != "conformance-enricher" || m.Kind != abi.KindEnricher || m.ContractVersion != abi.ContractVersion {
			t.Fatalf("Manifest() = %+v, want the conformance enricher's", m)
		}
		got, err := e.Enrich(ctx, plugin.Batch{Gadget: "network-graph", Sequence: 1, Events: []byte(twoEvents)}, map[string]string{"tag": "x"})
		if err != nil {
			t.Fatalf("Enrich: %v", err)
		}
		var want []map[string]any
		if err := json.Unmarshal([]byte(twoEvents), &want); err != nil {
			t.Fatal(err)
		}
		for _, ev := range want {
			ev["debug"] = "seen by conformance x"
		}
		var gotEvents []map[string]any
		if err := json.Unmarshal(got, &gotEvents); err != nil {
			t.Fatalf("Enrich returned %q: %v", got, err)
		}
		if !reflect.DeepEqual(gotEvents, want) {
			t.Errorf("Enrich = %s, want %v", got, want)
		}
		empty, err := e.Enrich(ctx, plugin.Batch{Gadget: "g", Sequence: 2, Events: []byte("[]")}, nil)
		if err != nil || strings.TrimSpace(string(empty)) != "[]" {
			t.Errorf("Enrich of an empty batch = %q, %v; want []", empty, err)
		}
		_, err = e.Enrich(ctx, plugin.Batch{Gadget: "g", Sequence: 3, Events: []byte("[]")}, map[string]string{"fail": "no luck"})
		checkFailure(t, err, "conformance-enricher", 3, "no luck")
	})
	// The checks `gadget plugin test` runs against anyone's plugin pass in
	// every host.
	t.Run("plugin test", func(t *testing.T) {
		f := h.Formatter(t)
		t.Cleanup(func() { _ = f.Close() })
		e := h.Enricher(t)
		t.Cleanup(func() { _ = e.Close() })
		o := plugincheck.Options{Gadget: "g", Samples: &samples}
		results := append(plugincheck.Formatter(ctx, f, o), plugincheck.Enricher(ctx, e, o)...)
		for _, r := range results {
			if r.Err != nil {
				t.Errorf("%s: %v", r.Name, r.Err)
			}
		}
	})
}

// checkFailure checks that err is one plugin failure naming the plugin,
// the batch and the cause.
func checkFailure(t *testing.T, err error, name string, seq uint64, cause string) {
	t.Helper()
	if !errors.Is(err, plugin.ErrPluginFailed) {
		t.Fatalf("error = %v, want one wrapping plugin.ErrPluginFailed", err)
	}
	msg := err.Error()
	for _, want := range []string{`"` + name + `"`, fmt.Sprintf("batch %d", seq), cause} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error %q is more than one line", msg)
	}
}

// Events returns a JSON array of n distinct network-graph edges.
func Events(n int) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"node":"node-1","namespace":"demo","pod":"pod-%d","pktType":"OUTGOING","proto":"tcp","ip":"10.%d.%d.%d","port":%d,"packets":%d,"bytes":%d}`,
			i%50, (i>>16)&255, (i>>8)&255, i&255, 1024+i%40000, i+1, (i+1)*60)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// Benchmark formats one batch of n edges per iteration with f and reports
// the edges per second.
func Benchmark(b *testing.B, f plugin.Formatter, n int) {
	batch := plugin.Batch{Gadget: "network-graph", Sequence: 1, Final: true, Events: Events(n)}
	ctx := context.Background()
	b.SetBytes(int64(len(batch.Events)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Format(ctx, batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "edges/s")
}

// BenchmarkPaired formats one batch of n edges per iteration with both
// base (the built-in formatter) and f, alternating which goes first, and
// times each call on its own. It reports f's and base's nanoseconds per
// batch ("host-ns/batch", "builtin-ns/batch") and the ratio of their rates,
// base's summed time over f's ("x-builtin": 0.5 means f formats at half
// the built-in rate); ns/op, B/op and allocs/op count both calls. One
// untimed call of each first warms them up and checks that their outputs
// are equal; the benchmark fails if they differ or if a call fails.
//
// Ratios of separately run benchmarks are noise on shared or SMT machines:
// a CPU there runs up to 2× slower for seconds at a time while its sibling
// hardware thread is busy, so two benchmarks timed a few seconds apart can
// land in different states. Timing both formatters on the same batch in
// the same iteration puts them in the same state, and the ratio holds.
func BenchmarkPaired(b *testing.B, base, f plugin.Formatter, n int) {
	batch := plugin.Batch{Gadget: "network-graph", Sequence: 1, Final: true, Events: Events(n)}
	ctx := context.Background()
	timed := func(which string, fm plugin.Formatter) ([]byte, time.Duration) {
		start := time.Now()
		out, err := fm.Format(ctx, batch, nil)
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s formatter: %v", which, err)
		}
		return out.Data, d
	}
	baseOut, _ := timed("built-in", base)
	hostOut, _ := timed("host's", f)
	if !bytes.Equal(baseOut, hostOut) {
		b.Fatalf("the host's output (%d bytes) differs from the built-in's (%d bytes)", len(hostOut), len(baseOut))
	}
	b.ReportAllocs()
	var baseTime, hostTime time.Duration
	iters := 0
	for b.Loop() {
		var bd, hd time.Duration
		if iters%2 == 0 {
			_, bd = timed("built-in", base)
			_, hd = timed("host's", f)
		} else {
			_, hd = timed("host's", f)
			_, bd = timed("built-in", base)
		}
		baseTime += bd
		hostTime += hd
		iters++
	}
	if iters == 0 || hostTime <= 0 {
		return
	}
	b.ReportMetric(float64(hostTime.Nanoseconds())/float64(iters), "host-ns/batch")
	b.ReportMetric(float64(baseTime.Nanoseconds())/float64(iters), "builtin-ns/batch")
	b.ReportMetric(float64(baseTime)/float64(hostTime), "x-builtin")
}
