package plugintest_test

import (
	"context"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/plugins/conformance"
)

// TestBenchmarkPairedMismatch checks that the paired benchmark fails, in
// its first iteration, when the host's output differs from the built-in's.
func TestBenchmarkPairedMismatch(t *testing.T) {
	constant := func(s string) plugin.Formatter {
		return builtin.Formatter(conformance.FormatterManifest, func(context.Context, plugin.Batch, map[string]string) (plugin.Formatted, error) {
			return plugin.Formatted{Data: []byte(s)}, nil
		})
	}
	r := testing.Benchmark(func(b *testing.B) {
		plugintest.BenchmarkPaired(b, constant("a\n"), constant("b\n"), 10)
	})
	if r.N != 0 {
		t.Errorf("BenchmarkPaired with differing outputs ran %d iterations, want it to fail in the first", r.N)
	}
}
