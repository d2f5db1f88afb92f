package format

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// runPipeline runs the batches of c through a plugin pipeline ending in f.
func runPipeline(t *testing.T, f plugin.Formatter, batches [][]any) (stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	p, err := pipeline.New(context.Background(), pipeline.Config{
		Gadget: "network-graph", Formatter: f, Final: FinalGraph, Messages: WriteMessages,
		Stdout: &out, Stderr: &errw,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := p.Batch(b[0]); err != nil {
			t.Fatalf("Batch: %v", err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.String(), errw.String()
}

func caseBatches(i int) [][]any {
	var bs [][]any
	for _, b := range cases[i].batches {
		bs = append(bs, []any{b})
	}
	return bs
}

// golden returns the stdout and stderr parts of a golden file.
func golden(t *testing.T, name string) (stdout, stderr string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimPrefix(string(b), "-- stdout --\n")
	stdout, stderr, _ = strings.Cut(s, "-- stderr --\n")
	return stdout, stderr
}

// TestPluginsMatchOutputs checks that the formats as built-in plugins,
// run through the plugin pipeline, print what the outputs of New print.
func TestPluginsMatchOutputs(t *testing.T) {
	for _, f := range Plugins() {
		name := f.Manifest().Name
		for i, c := range cases {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				out, errs := runPipeline(t, f, caseBatches(i))
				wantOut, wantErr := golden(t, c.name+"."+name+".golden")
				if out != wantOut {
					t.Errorf("stdout differs from the %s output\ngot:\n%s\nwant:\n%s", name, out, wantOut)
				}
				if (name == Table || name == DOT) && errs != wantErr {
					t.Errorf("stderr = %q, want %q", errs, wantErr)
				}
			})
		}
	}
}

// TestWasmPlugins checks that plugins/dot prints exactly the built-in dot
// graph and plugins/mermaid its golden flowchart (-update rewrites it).
func TestWasmPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles WASM plugins")
	}
	dir := t.TempDir()
	files := plugintest.BuildWasm(t, dir, "./plugins/dot", "./plugins/mermaid")
	cache := ""
	if c, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(c, "gadget-test", "wazero")
	}
	h, err := wasm.NewHost(context.Background(), wasm.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	dot, err := h.OpenFormatter(context.Background(), files[0])
	if err != nil {
		t.Fatal(err)
	}
	mermaid, err := h.OpenFormatter(context.Background(), files[1])
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.name+"/dot.wasm", func(t *testing.T) {
			out, _ := runPipeline(t, noClose{dot}, caseBatches(i))
			want, _ := golden(t, c.name+".dot.golden")
			if out != want {
				t.Errorf("dot.wasm differs from the built-in dot\ngot:\n%s\nwant:\n%s", out, want)
			}
		})
		t.Run(c.name+"/mermaid.wasm", func(t *testing.T) {
			out, _ := runPipeline(t, noClose{mermaid}, caseBatches(i))
			path := filepath.Join("testdata", c.name+".mermaid.golden")
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test -update to create it): %v", err)
			}
			if out != string(want) {
				t.Errorf("mermaid.wasm output differs from %s\ngot:\n%s\nwant:\n%s", path, out, want)
			}
		})
	}
}

// noClose keeps a formatter open across pipelines.
type noClose struct{ plugin.Formatter }

func (noClose) Close() error { return nil }
