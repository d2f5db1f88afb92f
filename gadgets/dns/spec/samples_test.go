package spec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/gadgets/dns/spec"
	"github.com/gadgetkit/gadget/gadgets/dns/types"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// decodeAll decodes a batch through the gadget's own decoder
// (gadget.Info.NewBatch), as gadget format and the agent read events.
func decodeAll(info *gadget.Info, batch []byte) ([]types.Event, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(batch, &raws); err != nil {
		return nil, err
	}
	b := info.NewBatch(false)
	for i, r := range raws {
		if err := b.Add(r); err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
	}
	return b.Batch().([]types.Event), nil
}

// TestSamples checks the batches dns declares for gadget plugin test:
// fit for the checks, every event a dns event, and a dns output plugin
// checked against them passes, while a plugin that reads only
// network-graph's edges does not.
func TestSamples(t *testing.T) {
	info := spec.Info()
	s, ok := plugincheck.SamplesOf(info)
	if !ok {
		t.Fatal("dns declares no plugincheck.Samples")
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	for name, batch := range map[string]string{"Ordinary": s.Ordinary, "Unusual": s.Unusual} {
		events, err := decodeAll(info, []byte(batch))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "Ordinary" && (events[0].Status != types.StatusAnswered || len(events[0].Answers) != 2) {
			t.Errorf("Ordinary: the first event is %+v, want an answered query with a CNAME and an A answer", events[0])
		}
	}

	// A formatter plugin that renders the gadget's own table.
	table := builtin.Formatter(abi.Manifest{Name: "dns-table", MediaType: "text/plain"},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			events, err := decodeAll(info, b.Events)
			if err != nil {
				return plugin.Formatted{}, err
			}
			var buf bytes.Buffer
			o, err := info.NewOutput(spec.FormatTable, &buf, io.Discard)
			if err != nil {
				return plugin.Formatted{}, err
			}
			if err := errors.Join(o.Batch(events), o.Close()); err != nil {
				return plugin.Formatted{}, err
			}
			return plugin.Formatted{Data: buf.Bytes()}, nil
		})
	o := plugincheck.Options{Gadget: spec.Name, Samples: s}
	for _, r := range plugincheck.Formatter(t.Context(), table, o) {
		if r.Err != nil {
			t.Errorf("dns-table: %s: %v", r.Name, r.Err)
		}
	}

	// A formatter written for network-graph's edges fails on dns events.
	edges := builtin.Formatter(abi.Manifest{Name: "edges", MediaType: "text/plain"},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			var events []map[string]any
			if err := json.Unmarshal(b.Events, &events); err != nil {
				return plugin.Formatted{}, err
			}
			for _, e := range events {
				if _, ok := e["pktType"]; !ok && e["type"] != "warn" {
					return plugin.Formatted{}, errors.New("an event without pktType: not an edge")
				}
			}
			return plugin.Formatted{Data: []byte("ok\n")}, nil
		})
	var failed []string
	for _, r := range plugincheck.Formatter(t.Context(), edges, o) {
		if r.Err != nil {
			failed = append(failed, r.Name)
		}
	}
	if len(failed) == 0 {
		t.Error("a formatter of network-graph edges passed the checks with dns events")
	}
	t.Logf("the edges formatter fails: %s", strings.Join(failed, "; "))
}
