package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
)

func TestParseParameters(t *testing.T) {
	tests := []struct {
		params  map[string]string
		want    spec.Options
		wantErr string
	}{
		{nil, spec.Options{Interval: 2 * time.Second, MaxEdges: 16384, Attach: "socket"}, ""},
		{map[string]string{"attach": "tcx"}, spec.Options{Interval: 2 * time.Second, MaxEdges: 16384, Attach: "tcx"}, ""},
		{map[string]string{"interval": "500ms", "max-edges": "10", "attach": "packet"}, spec.Options{Interval: 500 * time.Millisecond, MaxEdges: 10, Attach: "packet"}, ""},
		{map[string]string{"attach": "kprobe"}, spec.Options{}, `parameter attach="kprobe": want socket, tcx or packet`},
		{map[string]string{"interval": "10ms"}, spec.Options{}, `parameter interval="10ms"`},
		{map[string]string{"interval": "soon"}, spec.Options{}, `parameter interval="soon"`},
		{map[string]string{"max-edges": "0"}, spec.Options{}, `parameter max-edges="0"`},
		{map[string]string{"max-edges": "1048576"}, spec.Options{Interval: 2 * time.Second, MaxEdges: 1 << 20, Attach: "socket"}, ""},
		{map[string]string{"max-edges": "1048577"}, spec.Options{}, `parameter max-edges="1048577": want a whole number from 1 to 1048576`},
		{map[string]string{"colour": "red"}, spec.Options{}, `parameter "colour": unknown`},
	}
	for _, tt := range tests {
		got, err := spec.ParseParameters(tt.params)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("spec.ParseParameters(%v) error = %v, want %q", tt.params, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("spec.ParseParameters(%v) = %+v, %v; want %+v", tt.params, got, err, tt.want)
		}
	}
}

// TestDeclared checks that the declaration is in registry.Declared, valid,
// with its plugin support and without a tracer.
func TestDeclared(t *testing.T) {
	info, err := registry.Declared.Lookup(spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.New != nil {
		t.Error("the declaration has a New: the spec package must not link the tracer")
	}
	if info.CheckParameters(map[string]string{"interval": "1ms"}) == nil {
		t.Error("CheckParameters accepted interval=1ms")
	}
}

// TestDefaultsParse checks that the declared parameters and their
// defaults are the ones ParseParameters knows.
func TestDefaultsParse(t *testing.T) {
	params := map[string]string{}
	for _, p := range spec.Info().Parameters {
		params[p.Name] = p.Default
	}
	got, err := spec.ParseParameters(params)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := spec.ParseParameters(nil); got != want {
		t.Errorf("declared defaults give %+v, no parameters %+v", got, want)
	}
}
