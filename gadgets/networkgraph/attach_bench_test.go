package networkgraph

import (
	"context"
	"fmt"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// BenchmarkAttachDetach measures what one watched network namespace costs
// a running trace: AddTarget (tag program, packet socket, filter) and
// RemoveTarget (final read of its edges, socket closed) as separate
// sub-benchmarks on the same namespace, with fresh target IDs.
func BenchmarkAttachDetach(b *testing.B) {
	testenv.RequirePrivileged(b)
	ns := testenv.NewNetns(b, "bench")
	ctx := context.Background()
	in, err := newInstance(gadget.Config{Node: "benchnode", Emit: func(any) {}})
	if err != nil {
		b.Fatal(err)
	}
	if err := in.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := in.Stop(context.Background()); err != nil {
			b.Error(err)
		}
	})
	next := 0
	tg := func() gadget.Target {
		next++
		return gadget.Target{ID: fmt.Sprintf("bench-%d", next), Pod: ns.Name(), NetnsPath: ns.Path()}
	}

	b.Run("attach", func(b *testing.B) {
		var ids []string
		for b.Loop() {
			t := tg()
			if err := in.AddTarget(ctx, t); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, t.ID)
		}
		b.StopTimer()
		for _, id := range ids {
			if err := in.RemoveTarget(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("detach", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			t := tg()
			if err := in.AddTarget(ctx, t); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := in.RemoveTarget(ctx, t.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
