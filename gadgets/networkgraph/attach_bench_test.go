package networkgraph

import (
	"context"
	"fmt"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// BenchmarkAttachDetach measures what one watched network namespace costs
// a running trace, in each attach mode: AddTarget and RemoveTarget (the
// final read of its edges included) as separate sub-benchmarks on the same
// namespace, each timing one and leaving the other out.
func BenchmarkAttachDetach(b *testing.B) {
	testenv.RequirePrivileged(b)
	ns := testenv.NewNetns(b, "bench")
	for _, mode := range []string{"socket", "tcx"} {
		b.Run(mode, func(b *testing.B) { benchAttachDetach(b, ns, mode) })
	}
}

func benchAttachDetach(b *testing.B, ns *testenv.Netns, mode string) {
	ctx := context.Background()
	in, err := newInstance(gadget.Config{Node: "benchnode", Emit: func(any) {}, Parameters: map[string]string{"attach": mode}})
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
	// A namespace is watched once at a time: each round detaches what it
	// attached.
	round := func(b *testing.B, timeAttach bool) {
		t := tg()
		if !timeAttach {
			b.StopTimer()
		}
		if err := in.AddTarget(ctx, t); err != nil {
			b.Fatal(err)
		}
		if timeAttach {
			b.StopTimer()
		} else {
			b.StartTimer()
		}
		if err := in.RemoveTarget(ctx, t.ID); err != nil {
			b.Fatal(err)
		}
		if timeAttach {
			b.StartTimer()
		}
	}
	b.Run("attach", func(b *testing.B) {
		for b.Loop() {
			round(b, true)
		}
	})
	b.Run("detach", func(b *testing.B) {
		for b.Loop() {
			round(b, false)
		}
	})
}
