package plugincheck_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

var good = plugincheck.Samples{
	Ordinary: `[{"k":1},{"k":2}]`,
	Unusual:  `[{"type":"warn","message":"m"},{"k":"\u00e9",` + plugincheck.UnknownField + `}]`,
}

func lines() plugin.Formatter {
	return builtin.Formatter(abi.Manifest{Name: "lines", MediaType: "text/plain"},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			return plugin.Formatted{Data: append(b.Events, '\n')}, nil
		})
}

// TestSamplesFromTheGadget checks that the cases send the gadget's
// samples, and refuse to run without them or with samples unfit for them.
func TestSamplesFromTheGadget(t *testing.T) {
	info := &gadget.Info{Name: "g", Extensions: []gadget.Extension{&good}}
	s, ok := plugincheck.SamplesOf(info)
	if !ok || s != &good {
		t.Fatalf("SamplesOf = %v, %v; want the declared samples", s, ok)
	}
	if _, ok := plugincheck.SamplesOf(&gadget.Info{Name: "bare"}); ok {
		t.Error("SamplesOf found samples in a gadget that declares none")
	}

	var sent []string
	rec := builtin.Formatter(abi.Manifest{Name: "rec", MediaType: "text/plain"},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			if b.Gadget == "g" && b.Sequence == 1 {
				sent = append(sent, string(b.Events))
			}
			return plugin.Formatted{Data: []byte("x")}, nil
		})
	for _, r := range plugincheck.Formatter(t.Context(), rec, plugincheck.Options{Gadget: "g", Samples: s}) {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
	if len(sent) == 0 || sent[0] != good.Ordinary {
		t.Errorf("the formatter was sent %q, want the gadget's Ordinary batch first", sent)
	}

	tests := []struct {
		name string
		o    plugincheck.Options
		want string
	}{
		{"no gadget", plugincheck.Options{Samples: &good}, "no gadget named"},
		{"no samples", plugincheck.Options{Gadget: "bare"}, "gadget bare declares no sample batches"},
		{"one ordinary event", plugincheck.Options{Gadget: "g", Samples: &plugincheck.Samples{Ordinary: `[{}]`, Unusual: good.Unusual}},
			"Ordinary holds 1 events: give at least two"},
		{"no unknown field", plugincheck.Options{Gadget: "g", Samples: &plugincheck.Samples{Ordinary: good.Ordinary, Unusual: `[{}]`}},
			`Unusual must carry "x-unknown"`},
		{"not JSON", plugincheck.Options{Gadget: "g", Samples: &plugincheck.Samples{Ordinary: `[{`, Unusual: good.Unusual}},
			"Ordinary is not a JSON array of events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rs := range [][]plugincheck.Result{
				plugincheck.Formatter(t.Context(), lines(), tt.o),
				plugincheck.Enricher(t.Context(), builtin.Enricher(abi.Manifest{Name: "e"}, nil), tt.o),
			} {
				if len(rs) != 1 || rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), tt.want) {
					t.Errorf("results %v, want one failure saying %q", rs, tt.want)
				}
			}
		})
	}
}
