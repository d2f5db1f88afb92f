package format

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// sortInput is n edges of a few pods to many remote addresses, IPv4 and
// IPv6, in random order.
func sortInput(n int) []types.Event {
	r := rand.New(rand.NewPCG(1, 2))
	events := make([]types.Event, n)
	for i := range events {
		e := &events[i]
		e.Node, e.Namespace, e.Pod = "node-1", "shop", fmt.Sprintf("web-%d", r.IntN(8))
		e.PktType, e.Proto, e.Port = "OUTGOING", "tcp", r.IntN(3)*443
		if r.IntN(4) == 0 {
			e.IP = fmt.Sprintf("fd00::%x:%x", r.IntN(65536), r.IntN(65536))
		} else {
			e.IP = fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
		}
	}
	return events
}

// BenchmarkSortEvents sorts 10,000 edges, as the table and the final
// result of a large graph do.
func BenchmarkSortEvents(b *testing.B) {
	in := sortInput(10000)
	events := make([]types.Event, len(in))
	b.ReportAllocs()
	for b.Loop() {
		copy(events, in)
		sortEvents(events)
	}
}

// TestSortEventsOrder checks sortEvents against a plain stable sort with
// compareIP, which parses on every comparison: the same order, warn
// events last in their original order.
func TestSortEventsOrder(t *testing.T) {
	in := sortInput(2000)
	in = append(in, types.Event{}, types.Event{})
	in[len(in)-2].Type, in[len(in)-2].Message = "warn", "first"
	in[len(in)-1].Type, in[len(in)-1].Message = "warn", "second"
	in[3].IP, in[7].IP = "not-an-ip", "also-not"
	r := rand.New(rand.NewPCG(3, 4))
	r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
	want := slices.Clone(in)
	sortReparsing(want)
	got := slices.Clone(in)
	sortEvents(got)
	for i := range want {
		if got[i].Key() != want[i].Key() || got[i].Message != want[i].Message {
			t.Fatalf("event %d: got %s %q, want %s %q", i, got[i].Key(), got[i].Message, want[i].Key(), want[i].Message)
		}
	}
}

// sortReparsing is the sort sortEvents replaced: stable, comparing
// events by value and parsing both addresses on every comparison.
func sortReparsing(events []types.Event) {
	slices.SortStableFunc(events, func(a, b types.Event) int {
		ae, be := a.IsEdge(), b.IsEdge()
		switch {
		case ae && !be:
			return -1
		case !ae && be:
			return 1
		case !ae && !be:
			return 0
		}
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Pod, b.Pod),
			cmp.Compare(a.PktType, b.PktType), cmp.Compare(a.Proto, b.Proto), compareIP(a.IP, b.IP), cmp.Compare(a.Port, b.Port))
	})
}

// BenchmarkSortEventsReparsing is BenchmarkSortEvents with the former
// sort, for comparison in one run.
func BenchmarkSortEventsReparsing(b *testing.B) {
	in := sortInput(10000)
	events := make([]types.Event, len(in))
	b.ReportAllocs()
	for b.Loop() {
		copy(events, in)
		sortReparsing(events)
	}
}
