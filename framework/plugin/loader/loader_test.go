package loader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"dot.wasm", "csv"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	isBuiltin := func(name string) bool { return name == "json" }
	tests := []struct {
		name      string
		spec      string
		namesOnly bool
		dir       string
		want      resolved
		wantErr   error
	}{
		{name: "built-in", spec: "json", dir: dir, want: resolved{kind: builtinPlugin, name: "json"}},
		{name: "wasm in the plugin dir", spec: "dot", dir: dir, want: resolved{kind: wasmPlugin, path: filepath.Join(dir, "dot.wasm")}},
		{name: "go-plugin in the plugin dir", spec: "csv", dir: dir, want: resolved{kind: goPlugin, path: filepath.Join(dir, "csv")}},
		{name: "names only", spec: "dot", dir: dir, namesOnly: true, want: resolved{kind: wasmPlugin, path: filepath.Join(dir, "dot.wasm")}},
		{name: "wasm path", spec: "bin/plugins/dot.wasm", want: resolved{kind: wasmPlugin, path: "bin/plugins/dot.wasm"}},
		{name: "wasm file name", spec: "dot.wasm", want: resolved{kind: wasmPlugin, path: "dot.wasm"}},
		{name: "go-plugin path", spec: "./bin/plugins/csv", want: resolved{kind: goPlugin, path: "./bin/plugins/csv"}},
		{name: "unknown name", spec: "nope", dir: dir, wantErr: plugin.ErrNotFound},
		{name: "name without plugin dir", spec: "dot", wantErr: plugin.ErrNotFound},
		{name: "path when names only", spec: "/etc/passwd", namesOnly: true, dir: dir, wantErr: ErrInvalidSpec},
		{name: "wasm path when names only", spec: "x.wasm", namesOnly: true, dir: dir, wantErr: ErrInvalidSpec},
		{name: "dot-dot", spec: "..", namesOnly: true, dir: dir, wantErr: ErrInvalidSpec},
		{name: "dot-dot in a name", spec: "a..b", namesOnly: true, dir: dir, wantErr: ErrInvalidSpec},
		{name: "upper case", spec: "Dot", dir: dir, wantErr: ErrInvalidSpec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(tt.spec, Options{PluginDir: tt.dir, NamesOnly: tt.namesOnly}, isBuiltin)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("resolve(%q) error = %v, want %v", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("resolve(%q) = %+v, %v; want %+v", tt.spec, got, err, tt.want)
			}
		})
	}
}

func TestLoadBuiltin(t *testing.T) {
	noop := func(context.Context, plugin.Batch, map[string]string) (plugin.Formatted, error) {
		return plugin.Formatted{}, nil
	}
	enrich := func(_ context.Context, b plugin.Batch, _ map[string]string) ([]byte, error) { return b.Events, nil }
	opts := Options{
		Formatters: []plugin.Formatter{builtin.Formatter(abi.Manifest{Name: "json"}, noop)},
		Enrichers:  []plugin.Enricher{builtin.Enricher(abi.Manifest{Name: "a"}, enrich), builtin.Enricher(abi.Manifest{Name: "b"}, enrich)},
	}
	s, err := Load(context.Background(), "json", []string{"b", "a"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Formatter.Manifest().Name != "json" || len(s.Enrichers) != 2 ||
		s.Enrichers[0].Manifest().Name != "b" || s.Enrichers[1].Manifest().Name != "a" {
		t.Errorf("Load = %+v, want json after the enrichers b, a", s)
	}
	if _, err := Load(context.Background(), "json", []string{"json"}, opts); !errors.Is(err, plugin.ErrNotFound) {
		t.Errorf("a formatter name as enricher: error = %v, want ErrNotFound", err)
	}
}

func TestFromParameters(t *testing.T) {
	f, e, err := FromParameters(map[string]string{"formatter": "dot", "enrichers": " portnames , kubernetes", "interval": "2s"})
	if err != nil || f != "dot" || len(e) != 2 || e[0] != "portnames" || e[1] != "kubernetes" {
		t.Errorf("FromParameters = %q, %q, %v", f, e, err)
	}
	if _, _, err := FromParameters(map[string]string{"enrichers": "a,,b"}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("empty name: error = %v, want ErrInvalidSpec", err)
	}
	if f, e, err := FromParameters(nil); f != "" || e != nil || err != nil {
		t.Errorf("FromParameters(nil) = %q, %q, %v", f, e, err)
	}
}

func TestGoPluginPrivileged(t *testing.T) {
	tests := []struct {
		path       string
		privileged []string
		want       bool
	}{
		{"/var/lib/gadget/plugins/csv", nil, false},
		{"/var/lib/gadget/plugins/csv", []string{"csv"}, true},
		{"/var/lib/gadget/plugins/csv", []string{"/var/lib/gadget/plugins/csv"}, true},
		{"/var/lib/gadget/plugins/csv", []string{"/var/lib/gadget/plugins/../plugins/csv"}, true},
		{"/var/lib/gadget/plugins/csv", []string{"cs", "csv2", "/other/csv"}, false},
	}
	for _, tt := range tests {
		got := goPluginOptions(tt.path, Options{Privileged: tt.privileged}).Privileged
		if got != tt.want {
			t.Errorf("goPluginOptions(%s) with Privileged %q: Privileged = %v, want %v", tt.path, tt.privileged, got, tt.want)
		}
	}
}

func TestLoadCounts(t *testing.T) {
	noop := func(context.Context, plugin.Batch, map[string]string) (plugin.Formatted, error) {
		return plugin.Formatted{}, nil
	}
	fail := func(context.Context, plugin.Batch, map[string]string) ([]byte, error) {
		return nil, errors.New("plugin error: no")
	}
	prom := prometheus.NewRegistry()
	set, err := metrics.New(prom, nil, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(context.Background(), "json", []string{"bad"}, Options{
		Formatters: []plugin.Formatter{builtin.Formatter(abi.Manifest{Name: "json"}, noop)},
		Enrichers:  []plugin.Enricher{builtin.Enricher(abi.Manifest{Name: "bad"}, fail)},
		Metrics:    set,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseAll()
	b := plugin.Batch{Events: []byte("[]")}
	for range 2 {
		if _, err := s.Formatter.Format(context.Background(), b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Enrichers[0].Enrich(context.Background(), b, nil); err == nil {
		t.Fatal("the failing enricher did not fail")
	}
	f := metricstest.Gather(t, prom)
	for _, c := range []struct {
		name   string
		plugin string
		want   float64
	}{
		{"gadget_plugin_calls_total", "json", 2},
		{"gadget_plugin_errors_total", "json", 0},
		{"gadget_plugin_calls_total", "bad", 1},
		{"gadget_plugin_errors_total", "bad", 1},
		{"gadget_plugin_timeouts_total", "bad", 0},
	} {
		if v, _ := f.Value(c.name, map[string]string{"plugin": c.plugin}); v != c.want {
			t.Errorf("%s{plugin=%q} = %v, want %v", c.name, c.plugin, v, c.want)
		}
	}
}
