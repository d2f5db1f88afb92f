package format

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// BenchmarkPipelineBuiltin runs a trace of 10 batches of 1,000 edges (as
// the tracer emits them: []types.Event) through the plugin pipeline with
// a built-in formatter and no enricher, as gadget run --formatter and a
// Trace's spec.parameters.formatter do, and reports the allocations per
// edge: jsonl streams every batch, table merges them into the final graph.
func BenchmarkPipelineBuiltin(b *testing.B) {
	const batches, perBatch = 10, 1000
	in := make([][]types.Event, batches)
	all := sortInput(batches * perBatch)
	for i := range in {
		in[i] = all[i*perBatch : (i+1)*perBatch]
	}
	for _, name := range []string{JSONL, Table} {
		b.Run(name, func(b *testing.B) {
			var f plugin.Formatter
			for _, p := range Plugins() {
				if p.Manifest().Name == name {
					f = p
				}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n := 0
			for b.Loop() {
				p, err := pipeline.New(context.Background(), pipeline.Config{
					Gadget: "network-graph", Formatter: f, Final: FinalGraph, NewMerger: NewMerger,
					Messages: WriteMessages, Stdout: io.Discard, Stderr: io.Discard,
				})
				if err != nil {
					b.Fatal(err)
				}
				for _, batch := range in {
					if err := p.Batch(batch); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n*batches*perBatch), "allocs/edge")
		})
	}
}
