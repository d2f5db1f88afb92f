// Package format renders network-graph batches for a terminal or a file.
//
// Four formats are offered, default first:
//
//   - table: the final unique graph as aligned columns, printed by Close;
//   - json: the final unique graph as one JSON array, printed by Close;
//   - jsonl: every event of every batch as one JSON object per line,
//     printed as the batches arrive;
//   - dot: the final unique graph as a Graphviz digraph, printed by Close;
//   - networkpolicy: Kubernetes NetworkPolicies allowing exactly the final
//     graph's traffic (package advise), printed by Close.
//
// Warn and err events are messages about the trace rather than edges:
// table and dot write each of them as one line to the error writer as soon
// as it arrives; json and jsonl keep them in their output as they are.
package format

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// ErrClosed is returned by Batch and Close on an output already closed.
var ErrClosed = errors.New("output already closed")

// The format names, in the order Names returns them.
const (
	Table = "table"
	JSON  = "json"
	JSONL = "jsonl"
	DOT   = "dot"
	// NetworkPolicy is the advice of package advise as YAML.
	NetworkPolicy = "networkpolicy"
)

// Names returns the format names, default first.
func Names() []string { return []string{Table, JSON, JSONL, DOT, NetworkPolicy} }

// New returns the output called name, writing its result to w and, for the
// table and dot formats, the trace's warnings and errors to errw. An
// unknown name gives an error wrapping gadget.ErrUnknownFormat that lists
// the valid names. The output is safe for concurrent use.
func New(name string, w, errw io.Writer) (gadget.Output, error) {
	o := &output{name: name, w: w, errw: errw}
	switch name {
	case Table:
		o.final = renderTable
	case JSON:
		o.final, o.keepMessages = renderJSON, true
	case JSONL:
		o.keepMessages = true
	case DOT:
		o.final = renderDOT
	case NetworkPolicy:
		o.final = renderNetworkPolicy
	default:
		return nil, fmt.Errorf("output format %q: %w: use one of %s",
			name, gadget.ErrUnknownFormat, strings.Join(Names(), ", "))
	}
	return o, nil
}

// renderer writes the final graph of the unique, sorted edges.
type renderer func(w io.Writer, edges []types.Event) error

// output is the one implementation of gadget.Output behind every format:
// jsonl streams each batch (final is nil), the others collect the batches
// and render the unique graph on Close.
type output struct {
	name  string
	w     io.Writer
	errw  io.Writer
	final renderer
	// keepMessages keeps warn and err events in the output rather than
	// writing them to errw.
	keepMessages bool

	mu sync.Mutex
	// graph merges the batches as they arrive: a long trace or a large
	// recording costs memory for its unique edges only.
	graph  types.Graph
	closed bool
}

// Batch takes one batch of the instance: a []types.Event (or a single
// types.Event).
func (o *output) Batch(batch any) error {
	var events []types.Event
	switch b := batch.(type) {
	case []types.Event:
		events = b
	case types.Event:
		events = []types.Event{b}
	default:
		return fmt.Errorf("%s output: batch of type %T: want []types.Event from the network-graph gadget", o.name, batch)
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("%s output: batch after Close: %w", o.name, ErrClosed)
	}
	if o.final == nil {
		sorted := slices.Clone(events)
		sortEvents(sorted)
		if err := writeJSONL(o.w, sorted); err != nil {
			return fmt.Errorf("%s output: %w", o.name, err)
		}
		return nil
	}
	if !o.keepMessages {
		if err := writeMessages(o.errw, events); err != nil {
			return fmt.Errorf("%s output: %w", o.name, err)
		}
	}
	o.graph.Add(events...)
	return nil
}

// Close writes the final graph: the unique edges of every batch.
func (o *output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("%s output: %w", o.name, ErrClosed)
	}
	o.closed = true
	if o.final == nil {
		return nil
	}
	all := o.graph.Events()
	o.graph = types.Graph{}
	if !o.keepMessages {
		// The messages already went to errw as they arrived.
		all = slices.DeleteFunc(all, func(e types.Event) bool { return !e.IsEdge() })
	}
	sortEvents(all)
	if err := o.final(o.w, all); err != nil {
		return fmt.Errorf("%s output: write the final graph: %w", o.name, err)
	}
	return nil
}

// writeMessages writes every warn or err event of events to w, one line
// each, e.g. "warning: pod api: 12 edges dropped: the map is full".
func writeMessages(w io.Writer, events []types.Event) error {
	var b strings.Builder
	for _, e := range events {
		if e.IsEdge() {
			continue
		}
		b.WriteString(messageLine(e))
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// messageLine renders a warn or err event as one line without newline.
func messageLine(e types.Event) string {
	prefix := "warning: "
	if e.Type == eventtypes.ERR {
		prefix = "error: "
	} else if e.Type != eventtypes.WARN {
		prefix = fmt.Sprintf("%s: ", e.Type)
	}
	var where []string
	if e.Node != "" {
		where = append(where, "node "+e.Node)
	}
	if e.Pod != "" {
		pod := e.Pod
		if e.Namespace != "" {
			pod = e.Namespace + "/" + pod
		}
		where = append(where, "pod "+pod)
	}
	msg := strings.Join(strings.Fields(e.Message), " ")
	if msg == "" {
		msg = "(no message)"
	}
	if len(where) > 0 {
		return prefix + strings.Join(where, ", ") + ": " + msg
	}
	return prefix + msg
}

// sortEvents orders events stably: edges by node, namespace, pod,
// direction, protocol, remote address (numerically, IPv4 before IPv6) and
// port; warn and err events after the edges, in their original order.
// Each address is parsed once, not on every comparison, and the events
// are compared through pointers, then moved once into their places.
func sortEvents(events []types.Event) {
	keys := make([]sortKey, len(events))
	for i := range events {
		a, err := netip.ParseAddr(events[i].IP)
		keys[i] = sortKey{ev: &events[i], at: i, addr: a, parsed: err == nil, edge: events[i].IsEdge()}
	}
	slices.SortFunc(keys, compareKeys)
	// keys[i].at is the index of the event that goes to i: follow each
	// cycle of that permutation, moving every event once.
	done := make([]bool, len(events))
	for i := range keys {
		if done[i] || keys[i].at == i {
			continue
		}
		tmp := events[i]
		j := i
		for {
			done[j] = true
			from := keys[j].at
			if from == i {
				events[j] = tmp
				break
			}
			events[j] = events[from]
			j = from
		}
	}
}

// sortKey is an event being sorted, with its address parsed.
type sortKey struct {
	ev     *types.Event
	at     int // the event's index before the sort
	addr   netip.Addr
	parsed bool
	edge   bool
}

// compareKeys orders as compareIP-based sorting did; ties keep the
// original order (the index), so an unstable sort gives a stable result.
// The fields are compared one at a time, stopping at the first that
// differs.
func compareKeys(x, y sortKey) int {
	if x.edge != y.edge {
		if x.edge {
			return -1
		}
		return 1
	}
	if !x.edge {
		return cmp.Compare(x.at, y.at)
	}
	a, b := x.ev, y.ev
	if c := strings.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := strings.Compare(a.Pod, b.Pod); c != 0 {
		return c
	}
	if c := strings.Compare(a.PktType, b.PktType); c != 0 {
		return c
	}
	if c := strings.Compare(a.Proto, b.Proto); c != 0 {
		return c
	}
	if c := compareAddr(x, y); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	return cmp.Compare(x.at, y.at)
}

// compareAddr is compareIP over parsed addresses.
func compareAddr(x, y sortKey) int {
	switch {
	case x.parsed && y.parsed:
		return x.addr.Compare(y.addr)
	case x.parsed:
		return -1
	case y.parsed:
		return 1
	}
	return cmp.Compare(x.ev.IP, y.ev.IP)
}

// compareIP orders parseable addresses numerically, before anything that
// does not parse, which is ordered as text.
func compareIP(a, b string) int {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return pa.Compare(pb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}
