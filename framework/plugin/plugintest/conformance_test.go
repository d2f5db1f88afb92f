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
