package networkgraph

import (
	"testing"
	"time"

	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestLoadAndTag(t *testing.T) {
	testenv.RequirePrivileged(t)
	start := time.Now()
	objs, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	t.Logf("load: %v", time.Since(start))
	start = time.Now()
	for i := uint32(1); i <= 100; i++ {
		p, err := objs.TagProgram(i)
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	t.Logf("tag program: %v each", time.Since(start)/100)
	stats, err := objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats != ([NumStats]uint64{}) {
		t.Fatalf("fresh stats = %v, want zeros", stats)
	}
}
