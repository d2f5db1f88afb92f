package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
)

// TestRunWithPlugins runs the CLI with the repository's WASM plugins.
func TestRunWithPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles WASM plugins")
	}
	dir := t.TempDir()
	plugintest.BuildWasm(t, dir, "./plugins/dot", "./plugins/portnames", "./plugins/conformance/faulty")
	builtinDOT := run(t, &fakeGadget{}, 0, "run", "fake-graph", "--duration", "100ms", "--pid", "42", "-o", "dot")
	if builtinDOT.code != exitOK {
		t.Fatalf("-o dot: exit code %d, stderr:\n%s", builtinDOT.code, builtinDOT.stderr)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{
			name:    "wasm formatter by path",
			args:    []string{"--formatter", filepath.Join(dir, "dot.wasm")},
			wantOut: []string{builtinDOT.stdout},
			wantErr: []string{"warning: node node1: 2 edges dropped"},
		},
		{
			name:    "wasm formatter by name from the plugin dir",
			args:    []string{"--plugin-dir", dir, "--formatter", "dot", "-o", "table"},
			wantOut: []string{builtinDOT.stdout},
		},
		{
			name:    "wasm enricher before a built-in format",
			args:    []string{"--enricher", filepath.Join(dir, "portnames.wasm"), "-o", "jsonl"},
			wantOut: []string{`"port":8080`, `"annotations":{"portnames/service":"http-alt"}`},
		},
		{
			name:    "enricher parameter",
			args:    []string{"--plugin-dir", dir, "--enricher", "portnames", "--plugin-param", "portnames.ports=8080/tcp=web", "--formatter", "jsonl"},
			wantOut: []string{`"annotations":{"portnames/service":"web"}`},
		},
		{
			name:    "failing formatter falls back to json and exits 3",
			args:    []string{"--formatter", filepath.Join(dir, "faulty.wasm"), "--plugin-param", "faulty.mode=panic"},
			code:    exitPlugin,
			wantOut: []string{`"pod": "proc-42"`},
			wantErr: []string{`error: wasm plugin "faulty"`, "batch 3: plugin failed: ", "panic: faulty plugin: asked to panic", "warning: batch 3 is written as JSON instead",
				"gadget: 1 plugin call(s) failed (see the error lines above); their batches went on without the enricher or were written as JSON; --plugin-errors=warn exits 0"},
		},
		{
			name:    "--plugin-errors=warn exits 0",
			args:    []string{"--formatter", filepath.Join(dir, "faulty.wasm"), "--plugin-param", "faulty.mode=panic", "--plugin-errors", "warn"},
			wantOut: []string{`"pod": "proc-42"`},
			wantErr: []string{"warning: batch 3 is written as JSON instead"},
		},
		{
			name:    "failing enricher exits 3",
			args:    []string{"--plugin-dir", dir, "--enricher", "portnames", "--plugin-param", "portnames.ports=nonsense", "-o", "jsonl"},
			code:    exitPlugin,
			wantErr: []string{`error: wasm plugin "portnames"`, "the batch goes on without this enricher", "plugin call(s) failed (see the error lines above)"},
		},
		{
			name:    "parameter for a plugin not in the chain",
			args:    []string{"--plugin-dir", dir, "--enricher", "portnames", "--formatter", "dot", "--plugin-param", "grphml.x=1"},
			code:    exitUsage,
			wantErr: []string{`gadget: --plugin-param grphml.x: no plugin "grphml" in this run (formatter "dot", enricher "portnames"); fix the plugin name or drop the flag`},
		},
		{
			name:    "unknown name",
			args:    []string{"--formatter", "nope"},
			code:    exitUsage,
			wantErr: []string{"--formatter nope: plugin not found"},
		},
		{
			name:    "missing file",
			args:    []string{"--enricher", filepath.Join(dir, "nope.wasm")},
			code:    exitUsage,
			wantErr: []string{"plugin not found"},
		},
		{
			name:    "enricher as formatter",
			args:    []string{"--formatter", filepath.Join(dir, "portnames.wasm")},
			code:    exitUsage,
			wantErr: []string{"incompatible plugin", `plugin "portnames" is a "enricher", not a formatter`},
		},
		{
			name:    "bad parameter",
			args:    []string{"--formatter", "json", "--plugin-param", "nodot=1"},
			code:    exitUsage,
			wantErr: []string{"--plugin-param \"nodot=1\": want PLUGIN.KEY=VALUE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"run", "fake-graph", "--duration", "100ms", "--pid", "42"}, tt.args...)
			r := run(t, &fakeGadget{}, 0, args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
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

// TestFormatWithFailingPlugin checks that gadget format reports a failed
// plugin call like gadget run: exit status 3 (0 with --plugin-errors=warn),
// and the panic's stack in the log at --log-level debug only.
func TestFormatWithFailingPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles a WASM plugin")
	}
	dir := t.TempDir()
	plugintest.BuildWasm(t, dir, "./plugins/conformance/faulty")
	input := filepath.Join(dir, "events.json")
	if err := os.WriteFile(input, []byte(`[{"pod":"a","ip":"10.0.0.1","port":80,"proto":"tcp","pktType":"OUTGOING"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	faulty := filepath.Join(dir, "faulty.wasm")
	tests := []struct {
		name    string
		args    []string
		code    int
		want    []string
		notWant []string
	}{
		{"default", nil, exitPlugin,
			[]string{"panic: faulty plugin: asked to panic", "gadget: 1 plugin call(s) failed"}, []string{"goroutine "}},
		{"debug logs the stack", []string{"--log-level", "debug"}, exitPlugin,
			[]string{"wasm plugin call failed; its stderr follows", "goroutine "}, nil},
		{"warn", []string{"--plugin-errors", "warn"}, exitOK,
			[]string{"warning: batch 2 is written as JSON instead"}, []string{"gadget: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"format", "fake-graph", "--input", input, "--formatter", faulty, "--plugin-param", "faulty.mode=panic"}, tt.args...)
			if len(tt.args) > 0 && tt.args[0] == "--log-level" {
				args = append(tt.args, args[:len(args)-len(tt.args)]...)
			}
			r := run(t, &fakeGadget{}, 1000, args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stdout, `"pod": "a"`) {
				t.Errorf("stdout lacks the batch written as JSON:\n%s", r.stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(r.stderr, w) {
					t.Errorf("stderr contains %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}
