package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// TestCheckpointRestore checks that a checkpoint taken after any batch of
// each case, restored into a fresh output that then gets the remaining
// batches, gives exactly the final result of one output that got them all.
func TestCheckpointRestore(t *testing.T) {
	for _, name := range []string{JSON, Table, DOT} {
		for _, c := range cases {
			for split := 0; split <= len(c.batches); split++ {
				var want, errw bytes.Buffer
				one, err := New(name, &want, &errw)
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range c.batches {
					if err := one.Batch(b); err != nil {
						t.Fatal(err)
					}
				}
				if err := one.Close(); err != nil {
					t.Fatal(err)
				}

				var got, ckpt bytes.Buffer
				before, _ := New(name, &bytes.Buffer{}, &errw)
				for _, b := range c.batches[:split] {
					if err := before.Batch(b); err != nil {
						t.Fatal(err)
					}
				}
				if err := before.(gadget.Checkpointer).Checkpoint(&ckpt); err != nil {
					t.Fatal(err)
				}
				after, _ := New(name, &got, &errw)
				if err := after.(gadget.Checkpointer).Restore(bytes.NewReader(ckpt.Bytes())); err != nil {
					t.Fatalf("%s/%s split %d: restore: %v", name, c.name, split, err)
				}
				for _, b := range c.batches[split:] {
					if err := after.Batch(b); err != nil {
						t.Fatal(err)
					}
				}
				if err := after.Close(); err != nil {
					t.Fatal(err)
				}
				if got.String() != want.String() {
					t.Errorf("%s/%s, checkpoint after %d batches:\n got %s\nwant %s", name, c.name, split, got.String(), want.String())
				}
			}
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	o, _ := New(JSON, &bytes.Buffer{}, &bytes.Buffer{})
	c := o.(gadget.Checkpointer)
	if err := c.Restore(strings.NewReader("{not json")); err == nil || !strings.Contains(err.Error(), "read the checkpoint") {
		t.Errorf("restore of garbage: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Checkpoint(&bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Errorf("checkpoint after close: %v, want ErrClosed", err)
	}
}

// BenchmarkCheckpoint measures one checkpoint of a Status output holding
// 16384 distinct edges (max-edges' default), as the node agent takes it
// at every heartbeat.
func BenchmarkCheckpoint(b *testing.B) {
	o, _ := New(JSON, io.Discard, io.Discard)
	batch := make([]types.Event, 0, 16384)
	for i := range 16384 {
		e := edge("web", types.PktTypeOutgoing, "udp", fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), 53, 1, 80)
		e.Namespace = "demo"
		e.PodLabels = map[string]string{"app": "web"}
		batch = append(batch, e)
	}
	if err := o.Batch(batch); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := o.(gadget.Checkpointer).Checkpoint(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/checkpoint")
}
