package plugintest_test

import (
	"context"
	"os"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/goplugin/goplugintest"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
	"github.com/gadgetkit/gadget/plugins/conformance"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// hosts are the hosts under test; adding a host is adding one line.
func hosts(tb testing.TB) []plugintest.Host {
	return []plugintest.Host{
		builtinHost(),
		wasmHost(tb),
		goplugintest.Host(tb),
	}
}

func builtinHost() plugintest.Host {
	return plugintest.Host{
		Name: "builtin",
		Formatter: func(testing.TB) plugin.Formatter {
			return builtin.Formatter(conformance.FormatterManifest, func(_ context.Context, b plugin.Batch, p map[string]string) (plugin.Formatted, error) {
				data, err := conformance.Format(request(b, p))
				return plugin.Formatted{Data: data}, err
			})
		},
		Enricher: func(testing.TB) plugin.Enricher {
			return builtin.Enricher(conformance.EnricherManifest, func(_ context.Context, b plugin.Batch, p map[string]string) ([]byte, error) {
				return conformance.Enrich(request(b, p))
			})
		},
	}
}

func request(b plugin.Batch, p map[string]string) abi.Request {
	return abi.Request{ContractVersion: abi.ContractVersion, Gadget: b.Gadget, Sequence: b.Sequence, Final: b.Final, Batch: b.Events, Parameters: p}
}

func wasmHost(tb testing.TB) plugintest.Host {
	dir := tb.TempDir()
	files := plugintest.BuildWasm(tb, dir, "./plugins/conformance/formatter", "./plugins/conformance/enricher")
	host, err := wasm.NewHost(context.Background(), wasm.Options{CacheDir: cacheDir(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = host.Close(context.Background()) })
	return plugintest.Host{
		Name: "wasm",
		Formatter: func(tb testing.TB) plugin.Formatter {
			f, err := host.OpenFormatter(context.Background(), files[0])
			if err != nil {
				tb.Fatal(err)
			}
			return f
		},
		Enricher: func(tb testing.TB) plugin.Enricher {
			e, err := host.OpenEnricher(context.Background(), files[1])
			if err != nil {
				tb.Fatal(err)
			}
			return e
		},
	}
}

// cacheDir is wazero's compilation cache for the tests, kept across runs.
func cacheDir(tb testing.TB) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return tb.TempDir()
	}
	return dir + "/gadget-test/wazero"
}

func TestConformance(t *testing.T) {
	for _, h := range hosts(t) {
		t.Run(h.Name, func(t *testing.T) { plugintest.Run(t, h) })
	}
}

func BenchmarkFormat10k(b *testing.B) {
	for _, h := range hosts(b) {
		b.Run(h.Name, func(b *testing.B) {
			f := h.Formatter(b)
			defer f.Close()
			plugintest.Benchmark(b, f, 10_000)
		})
	}
	// The same formatter written in C: what the WASM host costs with a
	// guest whose code is about as fast as native code.
	b.Run("wasm-c", func(b *testing.B) {
		plugintest.Benchmark(b, cFormatter(b), 10_000)
	})
}

// BenchmarkFormat10kPaired measures each host against the built-in
// formatter in the same iterations (plugintest.BenchmarkPaired): its
// "x-builtin" metric is the ratio of the host's rate to the built-in's,
// the figure of issue 7's target (≥ 0.5×). BenchmarkFormat10k times the
// hosts one after the other, seconds apart; on a machine whose CPU speed
// changes with the load on sibling hardware threads, the ratio of its
// edges/s is noise (0.43× in one run, 0.8× in another for wasm-c), while
// the paired ratio holds.
func BenchmarkFormat10kPaired(b *testing.B) {
	base := builtinHost().Formatter(b)
	defer base.Close()
	for _, h := range hosts(b) {
		if h.Name == "builtin" {
			continue
		}
		b.Run(h.Name, func(b *testing.B) {
			f := h.Formatter(b)
			defer f.Close()
			plugintest.BenchmarkPaired(b, base, f, 10_000)
		})
	}
	b.Run("wasm-c", func(b *testing.B) {
		plugintest.BenchmarkPaired(b, base, cFormatter(b), 10_000)
	})
}
