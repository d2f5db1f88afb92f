package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// ev is a gadget's event as Go values.
type ev struct {
	N int `json:"n"`
}

// valueEcho is a ValueFormatter writing "#seq values=[...]" for Go values
// and "#seq json=..." for JSON, so the test sees which path a batch took.
func valueEcho(streaming, failValues bool) plugin.Formatter {
	return builtin.ValueFormatter(abi.Manifest{Name: "vecho", Streaming: streaming},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			return plugin.Formatted{Data: fmt.Appendf(nil, "#%d json=%s\n", b.Sequence, b.Events)}, nil
		},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			if failValues {
				return plugin.Formatted{}, errors.New("broken on purpose")
			}
			if b.Events != nil {
				return plugin.Formatted{}, errors.New("FormatValues got JSON too")
			}
			return plugin.Formatted{Data: fmt.Appendf(nil, "#%d values=%v final=%v\n", b.Sequence, b.Values, b.Final)}, nil
		})
}

// valueMerger sums the events it is given, as Go values or as JSON.
type valueMerger struct{ values, json []string }

func (m *valueMerger) Add(events []byte) error { m.json = append(m.json, string(events)); return nil }
func (m *valueMerger) AddValues(batch any) error {
	m.values = append(m.values, fmt.Sprint(batch))
	return nil
}
func (m *valueMerger) Result() ([]byte, error) { return []byte("[]"), nil }
func (m *valueMerger) ResultValues() (any, error) {
	return "merged " + strings.Join(m.values, "+") + " json " + strings.Join(m.json, "+"), nil
}

// TestValues checks that with no enricher and a ValueFormatter the
// tracer's batches reach the formatter and the merger as Go values, JSON
// batches as JSON, and that a failed FormatValues falls back to JSON.
func TestValues(t *testing.T) {
	batches := []any{[]ev{{1}, {2}}, []byte(`[{"n":3}]`), []ev{{4}}}

	out, _, _ := runCount(t, pipeline.Config{Formatter: valueEcho(true, false)}, batches...)
	want := "#1 values=[{1} {2}] final=false\n#2 json=[{\"n\":3}]\n#3 values=[{4}] final=false\n"
	if out != want {
		t.Errorf("streaming: output\n%s\nwant\n%s", out, want)
	}

	var msgs []string
	m := &valueMerger{}
	out, _, _ = runCount(t, pipeline.Config{
		Formatter: valueEcho(false, false), NewMerger: func() pipeline.Merger { return m },
		Messages: func([]byte, io.Writer) error { msgs = append(msgs, "json"); return nil },
		MessagesValues: func(any, io.Writer) error {
			msgs = append(msgs, "values")
			return nil
		},
	}, batches...)
	want = "#4 values=merged [{1} {2}]+[{4}] json [{\"n\":3}] final=true\n"
	if out != want || strings.Join(msgs, ",") != "values,json,values" {
		t.Errorf("merged: output %q, messages %v; want %q and values,json,values", out, msgs, want)
	}

	out, errs, failures := runCount(t, pipeline.Config{Formatter: valueEcho(true, true)}, []ev{{5}})
	if out != "[\n  {\n    \"n\": 5\n  }\n]\n" || failures != 1 || !strings.Contains(errs, "broken on purpose") {
		t.Errorf("failed FormatValues: output %q, failures %d, errors %q; want the batch as JSON", out, failures, errs)
	}

	// An enricher needs JSON: every batch is encoded.
	out, _, _ = runCount(t, pipeline.Config{Formatter: valueEcho(true, false),
		Enrichers: []plugin.Enricher{tagger("t", "x", false)}}, []ev{{6}})
	if out != "#1 json=[{\"n\":6}]\n" {
		t.Errorf("with an enricher: output %q, want the batch as JSON", out)
	}
}

// passes counts the JSON work of a pipeline: batches encoded, decoded by
// Config.Decode, and handed to a stage that would decode them again.
type passes struct {
	encodes, decodes, bytesChecks, valueChecks, bytesMessages int
}

// counted is a batch of ev that counts its encodings.
type counted struct {
	evs []ev
	p   *passes
}

func (c counted) MarshalJSON() ([]byte, error) {
	c.p.encodes++
	return json.Marshal(c.evs)
}

func (c counted) String() string { return fmt.Sprint(c.evs) }

func (p *passes) config(f plugin.Formatter, enrichers ...plugin.Enricher) pipeline.Config {
	return pipeline.Config{
		Formatter: f, Enrichers: enrichers,
		Messages:       func([]byte, io.Writer) error { p.bytesMessages++; return nil },
		MessagesValues: func(any, io.Writer) error { return nil },
		CheckEnriched:  func(_, _ []byte) error { p.bytesChecks++; return nil },
		Decode: func(b []byte) (any, error) {
			p.decodes++
			var evs []ev
			if err := json.Unmarshal(b, &evs); err != nil {
				return nil, err
			}
			return counted{evs: evs, p: p}, nil
		},
		CheckEnrichedValues: func(in, out any) error {
			p.valueChecks++
			if len(in.(counted).evs) < len(out.(counted).evs) {
				return errors.New("an event invented")
			}
			return nil
		},
	}
}

// handBack is an enricher that hands its batch back, as a plugin across a
// go-plugin or WASM boundary hands back new bytes.
func handBack(name string) plugin.Enricher {
	return builtin.Enricher(abi.Manifest{Name: name}, func(_ context.Context, b plugin.Batch, _ map[string]string) ([]byte, error) {
		return bytes.Clone(b.Events), nil
	})
}

// TestOneEncodingPerBoundary checks that with Config.Decode a batch
// crossing an enricher's boundary is encoded once on its way out and
// decoded once on its way back, checked as Go values and handed on as Go
// values: no stage after the enrichers reads its JSON again.
func TestOneEncodingPerBoundary(t *testing.T) {
	tests := []struct {
		name      string
		enrichers int
		streaming bool
		batch     func(*passes) any
		want      passes
		wantOut   string
	}{
		{name: "one enricher, streaming", enrichers: 1, streaming: true,
			batch:   func(p *passes) any { return counted{evs: []ev{{1}, {2}}, p: p} },
			want:    passes{encodes: 1, decodes: 1, valueChecks: 1},
			wantOut: "#1 values=[{1} {2}] final=false\n"},
		{name: "two enrichers, merged", enrichers: 2,
			batch:   func(p *passes) any { return counted{evs: []ev{{1}, {2}}, p: p} },
			want:    passes{encodes: 1, decodes: 2, valueChecks: 2},
			wantOut: "#2 values=merged [{1} {2}] json  final=true\n"},
		{name: "a batch given as JSON: decoded once more, for the check", enrichers: 2, streaming: true,
			batch:   func(*passes) any { return []byte(`[{"n":3}]`) },
			want:    passes{decodes: 3, valueChecks: 2},
			wantOut: "#1 values=[{3}] final=false\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p passes
			var es []plugin.Enricher
			for i := range tc.enrichers {
				es = append(es, handBack(fmt.Sprintf("back%d", i)))
			}
			cfg := p.config(valueEcho(tc.streaming, false), es...)
			if !tc.streaming {
				m := &valueMerger{}
				cfg.NewMerger = func() pipeline.Merger { return m }
			}
			out, errs, failures := runCount(t, cfg, tc.batch(&p))
			if out != tc.wantOut || errs != "" || failures != 0 {
				t.Errorf("output %q, errors %q, %d failures; want %q, none", out, errs, failures, tc.wantOut)
			}
			if p != tc.want {
				t.Errorf("passes %+v, want %+v", p, tc.want)
			}
		})
	}

	// A plugin formatter (JSON only) of the merged result: the enricher's
	// result is merged as the values Decode gave, not decoded again.
	var mp passes
	m := &valueMerger{}
	jsonOnly := builtin.Formatter(abi.Manifest{Name: "jsononly"}, func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
		return plugin.Formatted{Data: fmt.Appendf(nil, "#%d json=%s final=%v\n", b.Sequence, b.Events, b.Final)}, nil
	})
	cfg := mp.config(jsonOnly, handBack("back"))
	cfg.NewMerger = func() pipeline.Merger { return m }
	if out, errs, _ := runCount(t, cfg, counted{evs: []ev{{8}}, p: &mp}); out != "#2 json=[] final=true\n" || errs != "" ||
		mp != (passes{encodes: 1, decodes: 1, valueChecks: 1}) || len(m.json) != 0 || len(m.values) != 1 {
		t.Errorf("plugin formatter, merged: output %q, errors %q, passes %+v, merged %d as values and %d as JSON; "+
			"want one encoding, one decoding, the batch merged as values", out, errs, mp, len(m.values), len(m.json))
	}

	// A formatter that fails on the values: the fallback writes the
	// enricher's JSON as it came, not the values encoded again.
	var fp passes
	out, errs, failures := runCount(t, fp.config(valueEcho(true, true), handBack("back")), counted{evs: []ev{{7}}, p: &fp})
	if out != "[\n  {\n    \"n\": 7\n  }\n]\n" || failures != 1 || fp.encodes != 1 || fp.decodes != 1 {
		t.Errorf("failed FormatValues after an enricher: output %q, %d failures, passes %+v; want the batch as JSON, encoded once (errors %q)", out, failures, fp, errs)
	}

	// A result Decode refuses, or the check refuses, fails that enricher
	// alone; the batch goes on as it was, still as Go values.
	var p passes
	bad := builtin.Enricher(abi.Manifest{Name: "bad"}, func(context.Context, plugin.Batch, map[string]string) ([]byte, error) {
		return []byte(`[{"n":"three"}]`), nil
	})
	inventor := builtin.Enricher(abi.Manifest{Name: "inventor"}, func(context.Context, plugin.Batch, map[string]string) ([]byte, error) {
		return []byte(`[{"n":1},{"n":2}]`), nil
	})
	out, errs, failures = runCount(t, p.config(valueEcho(true, false), bad, inventor), counted{evs: []ev{{1}}, p: &p})
	if out != "#1 values=[{1}] final=false\n" || failures != 2 ||
		!strings.Contains(errs, `enricher "bad": batch 1: plugin failed: the enriched batch: json: cannot unmarshal`) ||
		!strings.Contains(errs, `enricher "inventor": batch 1: plugin failed: an event invented`) {
		t.Errorf("output %q, %d failures, errors:\n%s", out, failures, errs)
	}
}
