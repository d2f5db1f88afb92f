package wasm_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// TestCExample builds plugins/examples/c-formatter with clang and Debian's
// wasi-libc and runs it. Without them it skips, or fails under CI=true.
func TestCExample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "c-example.wasm")
	plugintest.BuildC(t, "plugins/examples/c-formatter", out)
	h := newHost(t, wasm.Options{})
	f, err := h.OpenFormatter(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m := f.Manifest(); m.Name != "c-example" || m.MediaType != "text/plain" {
		t.Errorf("manifest = %+v", m)
	}
	tests := []struct {
		events string
		want   string
	}{
		{`[]`, "network-graph: 0 events in batch 4\n"},
		{`[{"ip":"10.0.0.1","port":80,"podLabels":{"a":"[,]"}}]`, "network-graph: 1 events in batch 4\n"},
		{`[{"ip":"a"},{"ip":"b, \"c\""},{"ip":"d"}]`, "network-graph: 3 events in batch 4\n"},
	}
	for _, tt := range tests {
		got, err := f.Format(context.Background(), plugin.Batch{Gadget: "network-graph", Sequence: 4, Events: []byte(tt.events)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Data) != tt.want {
			t.Errorf("Format(%s) = %q, want %q", tt.events, got.Data, tt.want)
		}
	}
}
