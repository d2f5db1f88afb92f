package controller

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/trace"
)

func TestTargetSyncDiffs(t *testing.T) {
	reg, p := newProbeRegistry()
	tr, err := trace.New(reg, trace.Config{Gadget: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop(ctx)
	s := &targetSync{tr: tr, log: slog.New(slog.DiscardHandler), known: map[string]gadget.Target{}}
	a := gadget.Target{ID: "a", NetnsPath: "/a"}
	b := gadget.Target{ID: "b", NetnsPath: "/b"}
	a2 := gadget.Target{ID: "a", NetnsPath: "/a2"}
	steps := []struct {
		name string
		set  []gadget.Target
		want []string
		path string // NetnsPath of a in the instance, when present
	}{
		{name: "first set", set: []gadget.Target{a, b}, want: []string{"a", "b"}, path: "/a"},
		{name: "same set", set: []gadget.Target{b, a}, want: []string{"a", "b"}, path: "/a"},
		{name: "b goes", set: []gadget.Target{a}, want: []string{"a"}, path: "/a"},
		{name: "a changes netns", set: []gadget.Target{a2, {ID: ""}}, want: []string{"a"}, path: "/a2"},
		{name: "empty", set: nil, want: nil},
	}
	for _, st := range steps {
		s.apply(ctx, st.set)
		if got := p.targetIDs(); !slices.Equal(got, st.want) {
			t.Errorf("%s: instance targets = %v, want %v", st.name, got, st.want)
		}
		if got := tr.Targets(); len(got) != len(st.want) {
			t.Errorf("%s: trace targets = %v, want %v", st.name, got, st.want)
		}
		if st.path != "" {
			p.mu.Lock()
			got := p.targets["a"].NetnsPath
			p.mu.Unlock()
			if got != st.path {
				t.Errorf("%s: target a has netns %q, want %q", st.name, got, st.path)
			}
		}
	}
}
