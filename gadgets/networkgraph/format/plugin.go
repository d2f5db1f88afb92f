package format

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Plugins returns every format of Names as a built-in plugin formatter,
// for the plugin pipeline (--formatter, --enricher): jsonl streams every
// batch, the others render the final graph they are given. A plugin runs
// the output of New over the batch, so both print the same.
func Plugins() []plugin.Formatter {
	out := make([]plugin.Formatter, 0, len(Names()))
	for _, name := range Names() {
		m := abi.Manifest{Name: name, MediaType: mediaType(name), Streaming: name == JSONL,
			Description: "The built-in " + name + " format of network-graph."}
		render := func(events []types.Event) (plugin.Formatted, error) {
			var buf bytes.Buffer
			o, err := New(name, &buf, io.Discard)
			if err != nil {
				return plugin.Formatted{}, err
			}
			if err := errors.Join(o.Batch(events), o.Close()); err != nil {
				return plugin.Formatted{}, err
			}
			return plugin.Formatted{Data: buf.Bytes()}, nil
		}
		out = append(out, builtin.ValueFormatter(m,
			func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
				events, err := decode(b.Events)
				if err != nil {
					return plugin.Formatted{}, err
				}
				return render(events)
			},
			// The tracer's batches, as they are: no JSON in between.
			func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
				events, err := values(b.Values)
				if err != nil {
					return plugin.Formatted{}, err
				}
				return render(events)
			}))
	}
	return out
}

// mediaType returns the media type of the format name.
func mediaType(name string) string {
	switch name {
	case JSON:
		return "application/json"
	case JSONL:
		return "application/jsonl"
	case DOT:
		return "text/vnd.graphviz"
	case NetworkPolicy:
		return "application/yaml"
	}
	return "text/plain"
}

// FinalGraph merges the events of all batches, a JSON array, into the
// final graph handed to formatters that are not streaming: the unique
// edges, sorted, then the warn and err events in their order.
func FinalGraph(events []byte) ([]byte, error) {
	m := merger{}
	if err := m.Add(events); err != nil {
		return nil, err
	}
	return m.Result()
}

// WriteMessages writes the warn and err events of a batch, a JSON array,
// to w, one line each, as the table and dot formats do.
func WriteMessages(events []byte, w io.Writer) error {
	all, err := decode(events)
	if err != nil {
		return err
	}
	return writeMessages(w, all)
}

// WriteMessagesValues is WriteMessages for a batch of Go values.
func WriteMessagesValues(batch any, w io.Writer) error {
	events, err := values(batch)
	if err != nil {
		return err
	}
	return writeMessages(w, events)
}

// values returns a batch of Go values as the events it holds.
func values(batch any) ([]types.Event, error) {
	switch b := batch.(type) {
	case []types.Event:
		return b, nil
	case types.Event:
		return []types.Event{b}, nil
	}
	return nil, fmt.Errorf("a network-graph batch of %T: want []types.Event", batch)
}

func decode(batch []byte) ([]types.Event, error) {
	var events []types.Event
	if err := json.Unmarshal(batch, &events); err != nil {
		return nil, fmt.Errorf("decode a network-graph batch: %w", err)
	}
	return events, nil
}
