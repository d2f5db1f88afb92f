package types_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// batch10k returns 10,000 edges with distinct keys: distinct of them are
// different, the rest repeat them in order, as consecutive drains of the
// same connections do.
func batch10k(distinct int) []types.Event {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]types.Event, 10_000)
	for i := range out {
		k := i % distinct
		out[i] = types.Event{
			Event:     eventtypes.Event{Node: "node-1", Namespace: "default", Pod: fmt.Sprintf("pod-%d", k%100)},
			PktType:   types.PktTypeOutgoing,
			Proto:     "tcp",
			IP:        fmt.Sprintf("10.%d.%d.%d", k/65536%256, k/256%256, k%256),
			Port:      8000 + k%1000,
			Packets:   uint64(i + 1),
			Bytes:     uint64(100 * (i + 1)),
			FirstSeen: t0.Add(time.Duration(i) * time.Millisecond),
			LastSeen:  t0.Add(time.Duration(i+1) * time.Millisecond),
		}
	}
	return out
}

// BenchmarkUnique10k measures Unique on one 10,000-edge batch; edges/s is
// the throughput hack/bench/bench.sh reports for the pipeline.
func BenchmarkUnique10k(b *testing.B) {
	for _, distinct := range []int{10_000, 1_000} {
		b.Run(fmt.Sprintf("distinct=%d", distinct), func(b *testing.B) {
			in := batch10k(distinct)
			b.ReportAllocs()
			var out []types.Event
			for b.Loop() {
				out = types.Unique(in)
			}
			if len(out) != distinct {
				b.Fatalf("Unique kept %d edges, want %d", len(out), distinct)
			}
			b.ReportMetric(float64(len(in))*float64(b.N)/b.Elapsed().Seconds(), "edges/s")
		})
	}
}
