// Package pipeline runs a gadget's batches through a chain of plugin
// enrichers and one plugin formatter, as a gadget.Output. It knows nothing
// of any gadget: the gadget supplies how the batches of a trace merge into
// its final result (Config.Final) and how warnings in a batch are shown
// (Config.Messages).
//
// Failure policy: a failed plugin call never stops the trace. It writes
// one "error: …" line naming the plugin and the batch to Config.Stderr;
// a failed enricher is skipped for that batch, and when the formatter
// fails, the batch is written through Config.Fallback (the built-in json
// formatter) after a "warning: …" line, so no edge is lost.
package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
)

// ErrClosed is returned by Batch and Close after Close.
var ErrClosed = errors.New("output already closed")

// Defaults of Config's byte limits.
const (
	// DefaultMaxBatchBytes bounds one encoded batch sent to a plugin.
	DefaultMaxBatchBytes = 16 << 20
	// DefaultMaxHeldBytes bounds the batches a pipeline holds for a
	// formatter that is not streaming and no merger.
	DefaultMaxHeldBytes = 64 << 20
)

// Config is what a Pipeline runs.
type Config struct {
	// Gadget is the gadget's name, passed to every plugin call.
	Gadget string
	// Enrichers run in order on every batch.
	Enrichers []plugin.Enricher
	// Formatter renders every batch (a streaming formatter) or, on Close,
	// the final result. Required.
	Formatter plugin.Formatter
	// Params are the plugins' parameters by plugin name.
	Params map[string]map[string]string
	// Fallback renders what the formatter failed to; nil writes the
	// batch's JSON as it is.
	Fallback plugin.Formatter
	// Final merges the events of every batch (one JSON array) into the
	// final result for a formatter that is not streaming, e.g. the unique
	// graph; nil passes the events as they are.
	Final func(events []byte) ([]byte, error)
	// NewMerger, if set, is used instead of Final: it returns the merger
	// that folds every batch into the final result as the batch arrives,
	// so the pipeline holds the merged result (e.g. the unique edges)
	// rather than every batch of the trace.
	NewMerger func() Merger
	// Messages, if set, writes the warnings and errors of every batch to
	// Stderr as they arrive when the formatter is not streaming.
	Messages func(events []byte, w io.Writer) error
	// MessagesValues, if set, is Messages for a batch of the gadget's Go
	// values, which the pipeline passes as they are when it has no
	// enricher and its formatter is a plugin.ValueFormatter.
	MessagesValues func(batch any, w io.Writer) error
	// CheckEnriched, if set, checks every enricher's result against the
	// batch it was given (for a gadget, e.g., that no edge was invented or
	// changed its identity); a result it refuses fails that call. With
	// Decode it is not called: CheckEnrichedValues is.
	CheckEnriched func(in, out []byte) error
	// Decode, if set, decodes a batch an enricher returned into the
	// gadget's Go values (what its ValueFormatter, ValueMerger and
	// MessagesValues take), failing on anything but a JSON array of its
	// events with an error naming what is wrong. With it, an enricher's
	// result is read once: Decode checks it, CheckEnrichedValues judges
	// the values, and the built-in stages after the enrichers take the
	// values, never the JSON again.
	Decode func(events []byte) (any, error)
	// CheckEnrichedValues is CheckEnriched for the decoded batches: in is
	// the batch the enricher was given, out its result from Decode.
	CheckEnrichedValues func(in, out any) error
	// MaxBatchBytes bounds one encoded batch (a JSON array of events) sent
	// to a plugin, so that a flood of events costs no plugin (and no
	// agent) more than that; 0 means DefaultMaxBatchBytes. A larger batch
	// is not sent: it skips the enrichers and goes through the fallback
	// instead of the formatter, with an error line naming the plugin.
	MaxBatchBytes int
	// MaxHeldBytes bounds the batches held until Close for a formatter
	// that is not streaming when there is no merger; 0 means
	// DefaultMaxHeldBytes. A batch beyond it is left out of the final
	// result, with an error line saying so.
	MaxHeldBytes int
	// Stdout receives the formatted output, Stderr the error lines.
	Stdout, Stderr io.Writer
	// Close, if set, is called by the pipeline's Close after the plugins
	// are closed, e.g. to close their host.
	Close func() error
}

// Merger folds the batches of a trace, each a JSON array of events, into
// its final result as they arrive.
type Merger interface {
	// Add merges one batch. A batch it refuses is left out of the merge
	// and comes after the final result as it is.
	Add(events []byte) error
	// Result returns the final result, a JSON array of events.
	Result() ([]byte, error)
}

// ValueMerger is a Merger that also folds batches of the gadget's Go
// values, and returns the final result as Go values.
type ValueMerger interface {
	Merger
	// AddValues merges one batch of Go values; a batch it refuses comes
	// after the final result as it is.
	AddValues(batch any) error
	// ResultValues returns the final result as Go values.
	ResultValues() (any, error)
}

// Pipeline is a gadget.Output running the plugins of its Config. It is
// safe for concurrent use; batches are processed one at a time, in order.
//
// With no enricher and a plugin.ValueFormatter (a built-in format), a
// batch of Go values (the tracer's) goes to the formatter and the merger
// as it is, never through JSON. Otherwise every batch is encoded to JSON
// once, on its way in; with Config.Decode, each enricher's result is
// decoded once, on its way back, and goes on as Go values to a
// ValueFormatter.
type Pipeline struct {
	ctx context.Context
	cfg Config
	// values is the formatter when batches of Go values skip JSON.
	values plugin.ValueFormatter

	mu       sync.Mutex
	seq      uint64
	events   [][]byte // the enriched batches, for a formatter that is not streaming
	held     int      // bytes in events
	merger   Merger   // folds the enriched batches when Config.NewMerger is set
	closed   bool
	failures int
}

var _ gadget.Output = (*Pipeline)(nil)

// New returns a pipeline of cfg. Plugin calls run under ctx (each host
// adds its own per-call deadline); cancelling it fails the calls still to
// come, which then fall back as any failure does.
func New(ctx context.Context, cfg Config) (*Pipeline, error) {
	if cfg.Formatter == nil {
		return nil, errors.New("pipeline: no formatter: pass --formatter NAME or PATH")
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.MaxHeldBytes <= 0 {
		cfg.MaxHeldBytes = DefaultMaxHeldBytes
	}
	p := &Pipeline{ctx: ctx, cfg: cfg}
	streaming := cfg.Formatter.Manifest().Streaming
	if cfg.NewMerger != nil && !streaming {
		p.merger = cfg.NewMerger()
	}
	if vf, ok := cfg.Formatter.(plugin.ValueFormatter); ok && (len(cfg.Enrichers) == 0 || cfg.Decode != nil) {
		if streaming || p.mergesValues() {
			p.values = vf
		}
	}
	return p, nil
}

// Batch runs one batch of the gadget through the enrichers and, for a
// streaming formatter, the formatter. The batch is encoded as JSON once (a
// []byte or json.RawMessage is taken as already encoded), unless the
// pipeline has no enricher and a plugin.ValueFormatter: then it goes on as
// Go values. Only failures to
// encode or write are returned; plugin failures follow the package's
// failure policy.
func (p *Pipeline) Batch(batch any) error {
	if p.values != nil && len(p.cfg.Enrichers) == 0 && !isEncoded(batch) {
		return p.batchValues(batch)
	}
	events, err := encode(batch)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("pipeline: batch after Close: %w", ErrClosed)
	}
	p.seq++
	b := plugin.Batch{Gadget: p.cfg.Gadget, Sequence: p.seq, Events: events}
	// vals is b.Events as Go values, when the pipeline has them: the
	// tracer's batch, or the last enricher's result as Decode read it.
	var vals any
	if p.cfg.Decode != nil && !isEncoded(batch) {
		vals = batch
	}
	for _, e := range p.cfg.Enrichers {
		if len(b.Events) > p.cfg.MaxBatchBytes {
			p.failures++
			p.errorf("error: %v; the batch goes on without this enricher", p.tooLarge(e.Manifest().Name, b))
			continue
		}
		out, err := e.Enrich(p.ctx, b, p.cfg.Params[e.Manifest().Name])
		var outVals any
		if err == nil {
			outVals, vals, err = p.checkEnriched(e.Manifest().Name, b, vals, out)
		}
		if err != nil {
			p.failures++
			p.errorf("error: %v; the batch goes on without this enricher", err)
			continue
		}
		b.Events, vals = out, outVals
	}
	if vals != nil {
		// The enrichers' result, decoded once, goes on as Go values: to a
		// ValueFormatter, or to the merger of a plugin formatter's final
		// result.
		b.Values = vals
		if p.values != nil {
			return p.valuesOn(b)
		}
		if p.mergesValues() {
			return p.mergeValues(b)
		}
		b.Values = nil
	}
	if p.cfg.Formatter.Manifest().Streaming {
		return p.format(b)
	}
	if p.cfg.Messages != nil {
		if err := p.cfg.Messages(b.Events, p.cfg.Stderr); err != nil {
			p.errorf("error: batch %d: show its warnings: %v", b.Sequence, err)
		}
	}
	if p.merger != nil {
		err := p.merger.Add(b.Events)
		if err == nil {
			return nil
		}
		p.errorf("error: batch %d: merge it into the final result: %v; it follows the final result as it is", b.Sequence, err)
	}
	if p.held+len(b.Events) > p.cfg.MaxHeldBytes {
		p.failures++
		p.errorf("error: batch %d of %d bytes is left out of the final result: the batches held for formatter %q "+
			"would take more than %d bytes", b.Sequence, len(b.Events), p.cfg.Formatter.Manifest().Name, p.cfg.MaxHeldBytes)
		return nil
	}
	p.held += len(b.Events)
	p.events = append(p.events, b.Events)
	return nil
}

// checkEnriched reads the result out of enricher name, given b: once,
// through Config.Decode when it is set (which also checks that out is a
// JSON array of the gadget's events), else by validating it as a JSON
// array. It returns out's Go values (nil without Decode) and in's, which
// it decodes from b.Events if the caller had none and the gadget's check
// needs them.
func (p *Pipeline) checkEnriched(name string, b plugin.Batch, in any, out []byte) (outVals, inVals any, err error) {
	failed := func(cause error) error {
		return fmt.Errorf("enricher %q: batch %d: %w: %w", name, b.Sequence, plugin.ErrPluginFailed, cause)
	}
	if p.cfg.Decode == nil {
		if !isArray(out) {
			return nil, in, fmt.Errorf("plugin %q: batch %d: %w: the enriched batch is not a JSON array", name, b.Sequence, plugin.ErrPluginFailed)
		}
		if p.cfg.CheckEnriched != nil {
			if err := p.cfg.CheckEnriched(b.Events, out); err != nil {
				return nil, in, failed(err)
			}
		}
		return nil, in, nil
	}
	outVals, err = p.cfg.Decode(out)
	if err != nil {
		return nil, in, failed(fmt.Errorf("the enriched batch: %w", err))
	}
	if p.cfg.CheckEnrichedValues != nil {
		if in == nil {
			// The batch came as JSON: decoded once, for every enricher.
			if in, err = p.cfg.Decode(b.Events); err != nil {
				return nil, nil, failed(fmt.Errorf("the batch given: %w", err))
			}
		}
		if err := p.cfg.CheckEnrichedValues(in, outVals); err != nil {
			return nil, in, failed(err)
		}
	}
	return outVals, in, nil
}

// batchValues is Batch for a batch of Go values when the pipeline has no
// enricher and a ValueFormatter: the batch goes to the formatter (or the
// merger) as it is.
func (p *Pipeline) batchValues(batch any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("pipeline: batch after Close: %w", ErrClosed)
	}
	p.seq++
	return p.valuesOn(plugin.Batch{Gadget: p.cfg.Gadget, Sequence: p.seq, Values: batch})
}

// valuesOn takes b, whose Values are set, to the formatter (or the
// merger) as Go values. A batch the merger refuses is kept encoded (its
// Events, or its Values encoded), as Batch keeps it.
func (p *Pipeline) valuesOn(b plugin.Batch) error {
	if p.cfg.Formatter.Manifest().Streaming {
		return p.formatValues(b)
	}
	return p.mergeValues(b)
}

// mergesValues reports whether the pipeline merges batches of Go values:
// its merger takes them and so do its warnings.
func (p *Pipeline) mergesValues() bool {
	_, ok := p.merger.(ValueMerger)
	return ok && (p.cfg.Messages == nil || p.cfg.MessagesValues != nil)
}

// mergeValues shows the warnings of b, whose Values are set, and merges
// it into the final result as Go values.
func (p *Pipeline) mergeValues(b plugin.Batch) error {
	if p.cfg.MessagesValues != nil {
		if err := p.cfg.MessagesValues(b.Values, p.cfg.Stderr); err != nil {
			p.errorf("error: batch %d: show its warnings: %v", b.Sequence, err)
		}
	}
	err := p.merger.(ValueMerger).AddValues(b.Values)
	if err == nil {
		return nil
	}
	p.errorf("error: batch %d: merge it into the final result: %v; it follows the final result as it is", b.Sequence, err)
	events := b.Events
	if events == nil {
		if events, err = encode(b.Values); err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
	}
	p.events = append(p.events, events)
	return nil
}

// formatValues writes b, a batch of Go values, through the formatter, or
// encoded through the fallback when the formatter fails: b.Events when the
// batch came from an enricher as JSON, else b.Values encoded.
func (p *Pipeline) formatValues(b plugin.Batch) error {
	vb := b
	vb.Events = nil // FormatValues takes the values alone
	out, err := p.values.FormatValues(p.ctx, vb, p.cfg.Params[p.cfg.Formatter.Manifest().Name])
	if err != nil {
		p.failures++
		p.errorf("error: %v", err)
		p.errorf("warning: batch %d is written as JSON instead", b.Sequence)
		if b.Events == nil {
			events, encErr := encode(b.Values)
			if encErr != nil {
				return fmt.Errorf("pipeline: batch %d: %w", b.Sequence, encErr)
			}
			b.Events = events
		}
		b.Values = nil
		if out, err = p.fallback(b); err != nil {
			return fmt.Errorf("pipeline: batch %d: %w", b.Sequence, err)
		}
	}
	if _, err := p.cfg.Stdout.Write(out.Data); err != nil {
		return fmt.Errorf("pipeline: write batch %d: %w", b.Sequence, err)
	}
	return nil
}

// Failures returns how many plugin calls have failed so far: enricher
// calls skipped and formatter calls written through the fallback. The
// output is complete either way; a caller uses it to report the failures
// in its exit status.
func (p *Pipeline) Failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures
}

// Close formats the final result for a formatter that is not streaming,
// then closes the plugins.
func (p *Pipeline) Close() error {
	return p.close(true)
}

// Abort closes the plugins without formatting the final result, for a
// caller whose input failed half way: a final result of part of it would
// mislead. What a streaming formatter wrote stays written.
func (p *Pipeline) Abort() error {
	return p.close(false)
}

func (p *Pipeline) close(final bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("pipeline: %w", ErrClosed)
	}
	p.closed = true
	var err error
	if final && !p.cfg.Formatter.Manifest().Streaming {
		err = p.formatFinal()
	}
	p.events, p.merger, p.held = nil, nil, 0
	for _, e := range p.cfg.Enrichers {
		err = errors.Join(err, e.Close())
	}
	err = errors.Join(err, p.cfg.Formatter.Close())
	if p.cfg.Fallback != nil {
		err = errors.Join(err, p.cfg.Fallback.Close())
	}
	if p.cfg.Close != nil {
		err = errors.Join(err, p.cfg.Close())
	}
	return err
}

// formatFinal merges the batches and formats them as the final batch,
// numbered one after the last.
func (p *Pipeline) formatFinal() error {
	if p.merger != nil {
		return p.formatMerged()
	}
	all, err := concat(p.events)
	p.events = nil
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if p.cfg.Final != nil {
		merged, err := p.cfg.Final(all)
		if err != nil {
			p.errorf("error: merge the batches into the final result: %v; the batches follow as they are", err)
		} else {
			all = merged
		}
	}
	return p.format(plugin.Batch{Gadget: p.cfg.Gadget, Sequence: p.seq + 1, Final: true, Events: all})
}

// formatMerged formats the merger's result, followed by the batches it
// refused, as the final batch.
func (p *Pipeline) formatMerged() error {
	if vm, ok := p.merger.(ValueMerger); ok && p.values != nil && len(p.events) == 0 {
		// Nothing refused: the final result stays Go values.
		merged, err := vm.ResultValues()
		if err == nil {
			return p.formatValues(plugin.Batch{Gadget: p.cfg.Gadget, Sequence: p.seq + 1, Final: true, Values: merged})
		}
		p.errorf("error: merge the batches into the final result: %v; the batches it refused follow alone", err)
		return p.format(plugin.Batch{Gadget: p.cfg.Gadget, Sequence: p.seq + 1, Final: true, Events: []byte("[]")})
	}
	merged, err := p.merger.Result()
	if err != nil {
		p.errorf("error: merge the batches into the final result: %v; the batches it refused follow alone", err)
		merged = []byte("[]")
	}
	all, err := concat(append([][]byte{merged}, p.events...))
	p.events = nil
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return p.format(plugin.Batch{Gadget: p.cfg.Gadget, Sequence: p.seq + 1, Final: true, Events: all})
}

// format writes b through the formatter, or through the fallback when the
// formatter fails.
func (p *Pipeline) format(b plugin.Batch) error {
	var out plugin.Formatted
	var err error
	if name := p.cfg.Formatter.Manifest().Name; len(b.Events) > p.cfg.MaxBatchBytes {
		err = p.tooLarge(name, b)
	} else {
		out, err = p.cfg.Formatter.Format(p.ctx, b, p.cfg.Params[name])
	}
	if err != nil {
		p.failures++
		p.errorf("error: %v", err)
		p.errorf("warning: batch %d is written as JSON instead", b.Sequence)
		out, err = p.fallback(b)
		if err != nil {
			return fmt.Errorf("pipeline: batch %d: %w", b.Sequence, err)
		}
	}
	if _, err := p.cfg.Stdout.Write(out.Data); err != nil {
		return fmt.Errorf("pipeline: write batch %d: %w", b.Sequence, err)
	}
	return nil
}

func (p *Pipeline) fallback(b plugin.Batch) (plugin.Formatted, error) {
	if p.cfg.Fallback != nil {
		out, err := p.cfg.Fallback.Format(p.ctx, b, nil)
		if err == nil {
			return out, nil
		}
		p.errorf("error: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b.Events, "", "  "); err != nil {
		return plugin.Formatted{}, fmt.Errorf("the batch is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	return plugin.Formatted{Data: buf.Bytes(), MediaType: "application/json"}, nil
}

// tooLarge is the error of batch b, too large to send to plugin name.
func (p *Pipeline) tooLarge(name string, b plugin.Batch) error {
	return fmt.Errorf("plugin %q: batch %d: %w: the batch is %d bytes, more than the %d bytes a batch sent to a plugin may take",
		name, b.Sequence, plugin.ErrPluginFailed, len(b.Events), p.cfg.MaxBatchBytes)
}

// errorf writes one line to Stderr; a failing Stderr is ignored, as there
// is nowhere left to report it.
func (p *Pipeline) errorf(format string, args ...any) {
	_, _ = fmt.Fprintf(p.cfg.Stderr, format+"\n", args...)
}

// isEncoded reports whether batch is already JSON.
func isEncoded(batch any) bool {
	switch batch.(type) {
	case []byte, json.RawMessage:
		return true
	}
	return false
}

// encode returns batch as a JSON array.
func encode(batch any) ([]byte, error) {
	var b []byte
	switch v := batch.(type) {
	case []byte:
		b = v
	case json.RawMessage:
		b = v
	default:
		var err error
		if b, err = json.Marshal(batch); err != nil {
			return nil, fmt.Errorf("encode a batch of %T: %w", batch, err)
		}
	}
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return []byte("[]"), nil
	case len(b) > 0 && b[0] == '{':
		// A single event is a batch of one.
		return append(append([]byte{'['}, b...), ']'), nil
	case len(b) == 0 || b[0] != '[':
		return nil, fmt.Errorf("a batch of %T is not a JSON array of events", batch)
	}
	return b, nil
}

// concat joins JSON arrays into one.
func concat(arrays [][]byte) ([]byte, error) {
	var out bytes.Buffer
	out.WriteByte('[')
	n := 0
	for _, a := range arrays {
		var items []json.RawMessage
		if err := json.Unmarshal(a, &items); err != nil {
			return nil, fmt.Errorf("an enriched batch is not a JSON array: %w", err)
		}
		for _, it := range items {
			if n > 0 {
				out.WriteByte(',')
			}
			out.Write(it)
			n++
		}
	}
	out.WriteByte(']')
	return out.Bytes(), nil
}

// isArray reports whether b is one JSON array.
func isArray(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '[' && json.Valid(b)
}

// Support is what a gadget offers the plugin pipeline. A gadget that takes
// plugins puts a *Support in its gadget.Info.Extensions; framework/plugin/chain
// builds the pipeline from it.
type Support struct {
	// Formatters returns the gadget's output formats as built-in
	// formatter plugins, fresh on every call.
	Formatters func() []plugin.Formatter
	// Fallback is the built-in format that renders what a formatter
	// failed to, and the agent's formatter when a Trace names enrichers
	// only, e.g. "json".
	Fallback string
	// Final, NewMerger, Messages and CheckEnriched are the pipeline's
	// (Config).
	Final     func(events []byte) ([]byte, error)
	NewMerger func() Merger
	Messages  func(events []byte, w io.Writer) error
	// MessagesValues is Config.MessagesValues.
	MessagesValues func(batch any, w io.Writer) error
	CheckEnriched  func(in, out []byte) error
	// Decode and CheckEnrichedValues are Config.Decode and
	// Config.CheckEnrichedValues: an enricher's result read once.
	Decode              func(events []byte) (any, error)
	CheckEnrichedValues func(in, out any) error
	// CheckEvent checks one recorded event for gadget format, naming a
	// field of the wrong type.
	CheckEvent func(event []byte) error
}

// GadgetExtension implements gadget.Extension.
func (*Support) GadgetExtension() string { return "plugins" }

// SupportOf returns the plugin support info declares, and whether it declares
// any.
func SupportOf(info *gadget.Info) (*Support, bool) {
	for _, x := range info.Extensions {
		if s, ok := x.(*Support); ok {
			return s, true
		}
	}
	return nil, false
}

// Formatters returns the built-in formatters of info, none when it takes
// no plugins.
func Formatters(info *gadget.Info) []plugin.Formatter {
	if s, ok := SupportOf(info); ok && s.Formatters != nil {
		return s.Formatters()
	}
	return nil
}
