package pipeline_test

import (
	"context"
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
