package wasm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// TestCExample builds plugins/examples/c-formatter with clang and Debian's
// wasi-libc and runs it. Without them it skips, or fails under CI=true.
func TestCExample(t *testing.T) {
	_, errClang := exec.LookPath("clang")
	_, errLd := exec.LookPath("wasm-ld")
	_, errLibc := os.Stat("/usr/lib/wasm32-wasi/crt1-reactor.o")
	if errClang != nil || errLd != nil || errLibc != nil {
		msg := "needs clang, lld and wasi-libc (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "c-example.wasm")
	cmd := exec.Command("make", "-s", "-C", filepath.Join(root, "plugins/examples/c-formatter"), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the C example: %v\n%s", err, b)
	}
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
