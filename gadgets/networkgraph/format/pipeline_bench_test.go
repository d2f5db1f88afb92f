package format

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
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
					Messages: WriteMessages, MessagesValues: WriteMessagesValues, Stdout: io.Discard, Stderr: io.Discard,
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

// BenchmarkPipelineEnriched is BenchmarkPipelineBuiltin with one enricher
// between the tracer and the built-in formatter, configured as
// framework/plugin/chain configures it for network-graph. The enricher
// hands its batch back as it is: what is measured is the pipeline's side
// of a go-plugin or WASM boundary (the batch encoded on its way out, the
// result checked and decoded on its way back), not the plugin's work.
func BenchmarkPipelineEnriched(b *testing.B) {
	const batches, perBatch = 10, 1000
	in := make([][]types.Event, batches)
	all := sortInput(batches * perBatch)
	for i := range in {
		in[i] = all[i*perBatch : (i+1)*perBatch]
	}
	echo := builtin.Enricher(abi.Manifest{Name: "echo"}, func(_ context.Context, b plugin.Batch, _ map[string]string) ([]byte, error) {
		return b.Events, nil
	})
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
				p, err := pipeline.New(context.Background(), enrichedConfig(f, echo, io.Discard))
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

// enrichedConfig is the pipeline of network-graph with one enricher, as
// framework/plugin/chain builds it from the gadget's pipeline.Support.
func enrichedConfig(f plugin.Formatter, e plugin.Enricher, stdout io.Writer) pipeline.Config {
	return pipeline.Config{
		Gadget: "network-graph", Enrichers: []plugin.Enricher{e}, Formatter: f,
		Final: FinalGraph, NewMerger: NewMerger, Messages: WriteMessages, MessagesValues: WriteMessagesValues,
		CheckEnriched: CheckEdgesKept, Decode: Decode, CheckEnrichedValues: CheckEdgesKeptValues,
		Stdout: stdout, Stderr: io.Discard,
	}
}

// TestPipelineValuesSameOutput checks that every built-in format writes
// the same bytes whether the pipeline hands it the tracer's Go values or
// their JSON.
func TestPipelineValuesSameOutput(t *testing.T) {
	edges := sortInput(300)
	edges = append(edges, edges[:50]...) // duplicates to merge
	encoded, err := json.Marshal(edges)
	if err != nil {
		t.Fatal(err)
	}
	run := func(f plugin.Formatter, batch any) string {
		var out bytes.Buffer
		p, err := pipeline.New(context.Background(), pipeline.Config{
			Gadget: "network-graph", Formatter: f, Final: FinalGraph, NewMerger: NewMerger,
			Messages: WriteMessages, MessagesValues: WriteMessagesValues, Stdout: &out, Stderr: io.Discard,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(p.Batch(batch), p.Close()); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, f := range Plugins() {
		if _, ok := f.(plugin.ValueFormatter); !ok {
			t.Errorf("built-in %s is not a ValueFormatter", f.Manifest().Name)
			continue
		}
		values, fromJSON := run(f, edges), run(f, json.RawMessage(encoded))
		if values != fromJSON || values == "" {
			t.Errorf("%s: output from Go values differs from the output from JSON (%d and %d bytes)", f.Manifest().Name, len(values), len(fromJSON))
		}
	}
}
