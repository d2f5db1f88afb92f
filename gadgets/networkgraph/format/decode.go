package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// DecodeEvent decodes one recorded network-graph event, a JSON object.
// A field of the wrong type is an error naming the field and what it
// holds, e.g. `field "port": a JSON string where an integer belongs`;
// unknown fields are ignored (later versions add fields).
func DecodeEvent(raw []byte) (types.Event, error) {
	var e types.Event
	err := json.Unmarshal(raw, &e)
	if err == nil {
		return e, nil
	}
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return e, fmt.Errorf("field %q: a JSON %s where %s belongs", jsonField(te.Field), te.Value, typeName(te.Type))
	case errors.As(err, &te):
		return e, fmt.Errorf("a JSON %s where a network-graph event (an object) belongs", te.Value)
	case errors.As(err, &pe):
		return e, fmt.Errorf("field firstSeen or lastSeen: %q is not a time: want RFC 3339, e.g. 2026-01-02T15:04:05Z", pe.Value)
	}
	return e, fmt.Errorf("not a network-graph event: %w", err)
}

// CheckEvent is DecodeEvent for a caller that needs only its verdict.
func CheckEvent(raw []byte) error {
	_, err := DecodeEvent(raw)
	return err
}

// jsonField turns the field path of encoding/json ("Event.namespace",
// "podLabels") into the JSON name: the Go names of embedded structs, which
// start upper case where JSON names do not, are left out.
func jsonField(path string) string {
	parts := strings.Split(path, ".")
	parts = slices.DeleteFunc(parts, func(p string) bool { return p != "" && p[0] >= 'A' && p[0] <= 'Z' })
	if len(parts) == 0 {
		return path
	}
	return strings.Join(parts, ".")
}

// typeName says in words what a value of t looks like in JSON.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a " + t.String()
}

// NewMerger returns the pipeline merger of network-graph: it folds each
// batch into the unique graph as it arrives (types.Graph), so the
// pipeline holds the unique edges rather than every batch, and returns
// the final graph as FinalGraph does. Its Add fails on a batch that is
// not a JSON array of network-graph events.
func NewMerger() pipeline.Merger { return &merger{} }

type merger struct{ graph types.Graph }

func (m *merger) Add(batch []byte) error {
	events, err := decode(batch)
	if err != nil {
		return err
	}
	m.graph.Add(events...)
	return nil
}

// AddValues merges a batch of Go values (pipeline.ValueMerger).
func (m *merger) AddValues(batch any) error {
	events, err := values(batch)
	if err != nil {
		return err
	}
	m.graph.Add(events...)
	return nil
}

// ResultValues returns the unique, sorted events merged so far.
func (m *merger) ResultValues() (any, error) {
	all := slices.Clone(m.graph.Events())
	sortEvents(all)
	return all, nil
}

func (m *merger) Result() ([]byte, error) {
	all := slices.Clone(m.graph.Events())
	sortEvents(all)
	if all == nil {
		return []byte("[]"), nil
	}
	b, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("encode the final graph: %w", err)
	}
	return b, nil
}
