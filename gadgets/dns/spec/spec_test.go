package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/dns/spec"
)

func TestParseParameters(t *testing.T) {
	def := spec.Options{Interval: 2 * time.Second, Port: 53, Timeout: 5 * time.Second, MaxPending: 4096}
	tests := []struct {
		params  map[string]string
		want    spec.Options
		wantErr string
	}{
		{nil, def, ""},
		{map[string]string{"interval": "500ms", "port": "5353", "timeout": "1s", "max-pending": "10"},
			spec.Options{Interval: 500 * time.Millisecond, Port: 5353, Timeout: time.Second, MaxPending: 10}, ""},
		{map[string]string{"interval": "10ms"}, def, `parameter interval="10ms": want a duration of at least 100ms`},
		{map[string]string{"port": "0"}, def, `parameter port="0": want a port from 1 to 65535`},
		{map[string]string{"max-pending": "1048577"}, def, `parameter max-pending="1048577"`},
		{map[string]string{"colour": "red"}, def, `parameter "colour": unknown to dns`},
	}
	for _, tt := range tests {
		got, err := spec.ParseParameters(tt.params)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseParameters(%v) error = %v, want %q", tt.params, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseParameters(%v) = %+v, %v; want %+v", tt.params, got, err, tt.want)
		}
	}
}

// TestDeclared checks that the declaration is in registry.Declared and
// declares every parameter ParseParameters knows.
func TestDeclared(t *testing.T) {
	info, err := registry.Declared.Lookup(spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.New != nil {
		t.Error("the declaration has a New: the spec package must not link the tracer")
	}
	params := map[string]string{}
	for _, p := range info.Parameters {
		params[p.Name] = p.Default
	}
	if err := info.CheckParameters(params); err != nil {
		t.Errorf("the declared defaults do not parse: %v", err)
	}
}
