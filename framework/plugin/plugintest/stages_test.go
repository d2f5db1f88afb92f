package plugintest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// BenchmarkGoGuestStages tells where a Go WASM guest's time goes on a
// 10,000-edge batch (plugins/conformance/stages): each iteration runs
// every stage once, in a rotating order, beside the built-in formatter,
// and reports each stage's milliseconds per batch ("ms-<stage>") and the
// built-in's ("ms-builtin"). Timed in the same iterations, the stages see
// the same CPU states, so their differences hold on a loaded machine where
// separately timed benchmarks do not.
func BenchmarkGoGuestStages(b *testing.B) {
	files := plugintest.BuildWasm(b, b.TempDir(), "./plugins/conformance/stages")
	host, err := wasm.NewHost(context.Background(), wasm.Options{CacheDir: cacheDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = host.Close(context.Background()) }()
	f, err := host.OpenFormatter(context.Background(), files[0])
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	base := builtinHost().Formatter(b)
	defer func() { _ = base.Close() }()

	batch := plugin.Batch{Gadget: "network-graph", Sequence: 1, Final: true, Events: plugintest.Events(10_000)}
	stages := []string{"builtin", "call", "pass", "scan", "fields", "lines", "full"}
	run := func(stage string) time.Duration {
		fm, params := f, map[string]string{"stage": stage}
		if stage == "builtin" {
			fm, params = base, nil
		}
		start := time.Now()
		if _, err := fm.Format(context.Background(), batch, params); err != nil {
			b.Fatalf("stage %s: %v", stage, err)
		}
		return time.Since(start)
	}
	for _, s := range stages {
		run(s) // warm up, and fail early
	}
	total := make([]time.Duration, len(stages))
	iters := 0
	for b.Loop() {
		for k := range stages {
			j := (k + iters) % len(stages)
			total[j] += run(stages[j])
		}
		iters++
	}
	for j, s := range stages {
		b.ReportMetric(float64(total[j].Nanoseconds())/float64(iters)/1e6, "ms-"+s)
	}
}
