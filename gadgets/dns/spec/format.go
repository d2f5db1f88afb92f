package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

// The output formats, default first.
const (
	// FormatTable writes one aligned line per transaction as batches
	// arrive, warnings to the error writer.
	FormatTable = "table"
	// FormatJSON writes every event, warnings included, as one JSON array
	// when the trace ends.
	FormatJSON = "json"
	// FormatJSONL writes every event as one JSON object per line as
	// batches arrive.
	FormatJSONL = "jsonl"
)

func formatNames() []string { return []string{FormatTable, FormatJSON, FormatJSONL} }

// errClosed is returned by Batch and Close on an output already closed.
var errClosed = errors.New("output already closed")

// output implements gadget.Output for the three formats. It is safe for
// concurrent use.
type output struct {
	name string
	w    io.Writer
	errw io.Writer

	mu     sync.Mutex
	header bool
	events []types.Event // json: everything, written by Close
	closed bool
}

func newOutput(name string, w, errw io.Writer) (gadget.Output, error) {
	switch name {
	case FormatTable, FormatJSON, FormatJSONL:
		return &output{name: name, w: w, errw: errw}, nil
	}
	return nil, fmt.Errorf("output format %q: %w: use one of %s", name, gadget.ErrUnknownFormat, strings.Join(formatNames(), ", "))
}

// Batch takes one batch of the instance: a []types.Event.
func (o *output) Batch(batch any) error {
	events, ok := batch.([]types.Event)
	if !ok {
		return fmt.Errorf("%s output: batch of type %T: want []types.Event from the dns gadget", o.name, batch)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("%s output: batch after Close: %w", o.name, errClosed)
	}
	switch o.name {
	case FormatJSON:
		o.events = append(o.events, events...)
		return nil
	case FormatJSONL:
		enc := json.NewEncoder(o.w)
		for i := range events {
			if err := enc.Encode(&events[i]); err != nil {
				return fmt.Errorf("jsonl output: %w", err)
			}
		}
		return nil
	}
	return o.tableLocked(events)
}

// Close writes the json array; the other formats have written everything.
func (o *output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("%s output: %w", o.name, errClosed)
	}
	o.closed = true
	switch o.name {
	case FormatJSON:
		if o.events == nil {
			o.events = []types.Event{}
		}
		b, err := json.MarshalIndent(o.events, "", "  ")
		if err != nil {
			return fmt.Errorf("json output: %w", err)
		}
		if _, err := o.w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("json output: %w", err)
		}
	case FormatTable:
		if !o.header {
			return o.writeHeaderLocked()
		}
	}
	return nil
}

// tableColumns are the table's columns and widths; the last one is as
// wide as it needs.
var tableColumns = []struct {
	name  string
	width int
}{
	{"NODE", 10}, {"NAMESPACE", 10}, {"POD", 20}, {"STATUS", 10}, {"PROTO", 5}, {"SERVER", 26},
	{"QTYPE", 5}, {"NAME", 30}, {"RCODE", 8}, {"LATENCY", 9}, {"ANSWERS", 0},
}

func (o *output) writeHeaderLocked() error {
	o.header = true
	names := make([]string, len(tableColumns))
	for i, c := range tableColumns {
		names[i] = c.name
	}
	return o.lineLocked(names)
}

// lineLocked writes one table line, each cell padded to its column's
// width (a wider cell pushes the rest right but is never cut).
func (o *output) lineLocked(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		b.WriteString(c)
		if i == len(cells)-1 {
			break
		}
		b.WriteString(strings.Repeat(" ", max(tableColumns[i].width-len(c), 0)+2))
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(o.w, b.String()); err != nil {
		return fmt.Errorf("table output: %w", err)
	}
	return nil
}

func (o *output) tableLocked(events []types.Event) error {
	for _, e := range events {
		if e.Type == eventtypes.WARN || e.Type == eventtypes.ERR {
			if _, err := fmt.Fprintf(o.errw, "%s: %s\n", messageLabel(e.Type), e.Message); err != nil {
				return fmt.Errorf("table output: %w", err)
			}
			continue
		}
		if !o.header {
			if err := o.writeHeaderLocked(); err != nil {
				return err
			}
		}
		latency := ""
		if e.LatencyNs > 0 {
			latency = e.Latency().Round(10 * time.Microsecond).String()
		}
		server := ""
		if e.Server != "" {
			server = fmt.Sprintf("%s#%d", e.Server, e.ServerPort)
		}
		if err := o.lineLocked([]string{e.Node, e.Namespace, e.Pod, e.Status, e.Proto, server,
			e.QType, e.Name, e.RCode, latency, answersString(e)}); err != nil {
			return err
		}
	}
	return nil
}

func messageLabel(t eventtypes.EventType) string {
	if t == eventtypes.ERR {
		return "error"
	}
	return "warning"
}

// answersString renders the answers on one line, e.g.
// "CNAME web.example.org 2s, A 10.0.0.2 2s".
func answersString(e types.Event) string {
	parts := make([]string, 0, len(e.Answers)+2)
	for _, a := range e.Answers {
		parts = append(parts, fmt.Sprintf("%s %s %ds", a.Type, a.Data, a.TTL))
	}
	if e.OtherAnswers > 0 {
		parts = append(parts, fmt.Sprintf("+%d other", e.OtherAnswers))
	}
	if e.Truncated {
		parts = append(parts, "(truncated)")
	}
	return strings.Join(parts, ", ")
}
