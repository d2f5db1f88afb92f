package networkgraph

import (
	"testing"

	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestLoadAndTag(t *testing.T) {
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 128, MaxFlows: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	p, err := objs.TagProgram(1)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if _, err := objs.TagProgram(1 << 31); err == nil {
		t.Error("TagProgram(1<<31) succeeded, want an out-of-range error")
	}
	stats, err := objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats != ([NumStats]uint64{}) {
		t.Fatalf("fresh stats = %v, want zeros", stats)
	}
	n := 0
	if err := objs.Edges(func(EdgeKey, EdgeValue) { n++ }); err != nil || n != 0 {
		t.Fatalf("fresh edges: %d, %v; want none", n, err)
	}
}

// BenchmarkLoad measures loading and verifying the shared program, paid
// once per trace.
func BenchmarkLoad(b *testing.B) {
	testenv.RequirePrivileged(b)
	for b.Loop() {
		objs, err := Load(Options{})
		if err != nil {
			b.Fatal(err)
		}
		objs.Close()
	}
}

// BenchmarkTagProgram measures the per-namespace program load, paid once
// per watched namespace.
func BenchmarkTagProgram(b *testing.B) {
	testenv.RequirePrivileged(b)
	objs, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	for b.Loop() {
		p, err := objs.TagProgram(1)
		if err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}
