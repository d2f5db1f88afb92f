package spec_test

import (
	"encoding/json"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
)

// TestSamples checks the batches network-graph declares for gadget plugin
// test: fit for the checks, every event a network-graph event (as the
// gadget decodes recorded events), and kept by an enricher that hands them
// back.
func TestSamples(t *testing.T) {
	info := spec.Info()
	s, ok := plugincheck.SamplesOf(info)
	if !ok {
		t.Fatal("network-graph declares no plugincheck.Samples")
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	support, _ := pipeline.SupportOf(info)
	for name, batch := range map[string]string{"Ordinary": s.Ordinary, "Unusual": s.Unusual} {
		var raws []json.RawMessage
		if err := json.Unmarshal([]byte(batch), &raws); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b := info.NewBatch(false)
		for i, r := range raws {
			if err := b.Add(r); err != nil {
				t.Errorf("%s: event %d: %v", name, i+1, err)
			}
		}
		if err := support.CheckEnriched([]byte(batch), []byte(batch)); err != nil {
			t.Errorf("%s: the batch itself is refused as its own enrichment: %v", name, err)
		}
	}
}
