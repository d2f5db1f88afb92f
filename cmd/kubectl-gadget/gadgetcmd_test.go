package main

import (
	"maps"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/registry"
)

// TestTraceParameters checks the parameters start puts in the Traces: the
// declared parameter flags with their values, the --param ones, and
// usage errors naming the flag to fix.
func TestTraceParameters(t *testing.T) {
	for _, name := range registry.Declared.Names() {
		info, _ := registry.Declared.Lookup(name)
		flags := map[string]*string{}
		want := map[string]string{}
		for _, p := range info.Parameters {
			if p.Flag {
				v := p.Default
				flags[p.Name] = &v
				want[p.Name] = v
			}
		}
		got, err := traceParameters(info, flags, nil)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("%s: defaults give %v, %v; want %v", name, got, err, want)
		}
		for _, tt := range []struct {
			params []string
			want   string
		}{
			{[]string{"colour=red"}, `--param: parameter "colour": unknown to ` + name},
			{[]string{"colour"}, `--param "colour": want KEY=VALUE`},
		} {
			_, err := traceParameters(info, flags, tt.params)
			if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: --param %v: error %v, want a usage error with %q", name, tt.params, err, tt.want)
			}
		}
		for p := range flags {
			bad := "1ms"
			_, err := traceParameters(info, map[string]*string{p: &bad}, nil)
			if _, ok := err.(usageError); !ok || !strings.HasPrefix(err.Error(), "--"+p+` "1ms": parameter `+p) {
				t.Errorf("%s: --%s 1ms: error %v, want a usage error naming --%s", name, p, err, p)
			}
			_, err = traceParameters(info, flags, []string{p + "=5s"})
			if err == nil || !strings.Contains(err.Error(), "set it with --"+p) {
				t.Errorf("%s: --param %s=5s: error %v, want advice to use --%s", name, p, err, p)
			}
		}
	}
}

// TestTraceParametersCapability checks that a capability a gadget Uses
// (network-graph's dns-names) passes to the Trace as the framework's
// parameter, not refused as unknown to the gadget.
func TestTraceParametersCapability(t *testing.T) {
	for _, info := range registry.Declared.All() {
		for _, c := range info.Uses {
			got, err := traceParameters(info, nil, []string{string(c) + "=true"})
			if err != nil || got[string(c)] != "true" {
				t.Errorf("%s: --param %s=true: %v, %v", info.Name, c, got, err)
			}
			if _, err := traceParameters(info, nil, []string{string(c) + "=maybe"}); err == nil {
				t.Errorf("%s: --param %s=maybe accepted", info.Name, c)
			}
		}
	}
}
