package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
)

// inventorSource is a WASM enricher, written as a third party would, that
// adds an edge of its own to every batch: what the host must refuse.
const inventorSource = `package main

import (
	"bytes"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() {
	wasm.Enricher(abi.Manifest{Name: "inventor"}, func(req abi.Request) ([]byte, error) {
		b := bytes.TrimSpace(req.Batch)
		extra := []byte(` + "`" + `{"pod":"ghost","pktType":"OUTGOING","proto":"tcp","ip":"192.0.2.1","port":1}` + "`" + `)
		if len(b) > 2 {
			extra = append([]byte{','}, extra...)
		}
		out := append(bytes.Clone(b[:len(b)-1]), extra...)
		return append(out, ']'), nil
	})
}

func main() {}
`

// buildExternal builds src as a WASM plugin in a module of its own,
// outside the repository, requiring the SDK module through a replace.
func buildExternal(t *testing.T, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	sdk := filepath.Join(plugintest.ModuleRoot(t), "plugins", "sdk")
	gomod := "module example.com/" + name + "\n\ngo 1.26\n\nrequire github.com/gadgetkit/gadget/plugins/sdk v0.0.0\n\n" +
		"replace github.com/gadgetkit/gadget/plugins/sdk => " + sdk + "\n"
	for f, text := range map[string]string{"go.mod": gomod, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, name+".wasm")
	if err := plugintest.GoBuildWasm(dir, ".", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPluginCommands runs gadget plugin inspect and test against plugins
// that keep the contract and one that does not, and checks that the
// host refuses the broken enricher's result in a run.
func TestPluginCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WASM plugins")
	}
	dir := t.TempDir()
	plugintest.BuildWasm(t, dir, "./plugins/portnames")
	inventor := buildExternal(t, "inventor", inventorSource)
	input := filepath.Join(dir, "events.json")
	if err := os.WriteFile(input, []byte(`[{"pod":"a","pktType":"OUTGOING","proto":"udp","ip":"10.0.0.9","port":53}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{
			name: "inspect a built-in",
			args: []string{"plugin", "inspect", "dot"},
			wantOut: []string{"name:              dot\n", "kind:              formatter\n", "contract version:  1\n",
				"media type:        text/vnd.graphviz\n", "gadgets:           any\n"},
		},
		{
			name:    "inspect a WASM enricher by name",
			args:    []string{"plugin", "inspect", "--plugin-dir", dir, "portnames"},
			wantOut: []string{"name:              portnames\n", "kind:              enricher\n"},
		},
		{
			name: "test a good enricher",
			args: []string{"plugin", "test", filepath.Join(dir, "portnames.wasm")},
			wantOut: []string{"PASS  manifest\n", "PASS  enriches ordinary events, keeping them\n", "PASS  concurrent calls\n",
				"ok    portnames: 6 cases passed\n"},
		},
		{
			name: "test an enricher that invents an edge",
			args: []string{"plugin", "test", inventor},
			code: exitFailure,
			wantOut: []string{"PASS  manifest\n",
				"FAIL  enriches ordinary events, keeping them: event 3 of its result (/ghost/OUTGOING/tcp/192.0.2.1/1) is not in the batch it was given"},
			wantErr: []string{`gadget: plugin "inventor": 5 of 6 cases failed`},
		},
		{
			name:    "the host refuses an invented edge",
			args:    []string{"format", "fake-graph", "--input", input, "--enricher", inventor, "-o", "jsonl"},
			code:    exitPlugin,
			wantOut: []string{`"pod":"a"`},
			wantErr: []string{`error: enricher "inventor": batch 1: plugin failed: event 2 of its result (/ghost/OUTGOING/tcp/192.0.2.1/1) is not in the batch it was given`},
		},
		{
			name:    "no such gadget",
			args:    []string{"plugin", "test", "--gadget", "nope", filepath.Join(dir, "portnames.wasm")},
			code:    exitUsage,
			wantErr: []string{`gadget: --gadget "nope": `, "fake-graph"},
		},
		{
			name:    "no such plugin",
			args:    []string{"plugin", "test", "nope.wasm"},
			code:    exitUsage,
			wantErr: []string{"gadget: nope.wasm: wasm plugin nope.wasm: plugin not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, &fakeGadget{}, 1000, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d; stdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}
