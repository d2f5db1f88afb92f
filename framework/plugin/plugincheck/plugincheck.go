// Package plugincheck checks that any plugin keeps the plugin contract of
// docs/plugins.md, whatever it does with the events: its manifest, its
// answers to ordinary and unusual batches, its determinism and its
// behaviour under concurrent calls. `gadget plugin test` runs it against
// a plugin file; the conformance tests of framework/plugin/plugintest run
// it against this repository's plugins in every host.
package plugincheck

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Result is the outcome of one case: Err is nil when it passed.
type Result struct {
	Name string
	Err  error
}

// Options tune the checks.
type Options struct {
	// Gadget is the gadget named in the requests. Required.
	Gadget string
	// Samples are the batches the cases send: the gadget's (SamplesOf).
	// Required.
	Samples *Samples
	// Params are passed to every call.
	Params map[string]string
	// CheckEnriched, if set, checks an enricher's result against its
	// input, e.g. that it kept every edge's identity; the gadget supplies
	// it.
	CheckEnriched func(in, out []byte) error
}

// UnknownField is the field, with its value, that Samples.Unusual must
// carry on one event: a field no gadget defines, which an enricher keeps
// as it is.
const UnknownField = `"x-unknown":{"kept":[1,2]}`

// Samples are the batches of a gadget's events that the cases send. A
// gadget declares them in its gadget.Info.Extensions, beside its event
// type, so that `gadget plugin test --gadget NAME` checks a plugin
// against events of that gadget.
type Samples struct {
	// Ordinary is a JSON array of at least two ordinary events.
	Ordinary string
	// Unusual is a JSON array holding a warning (a "warn" event), values
	// to escape, unicode and, on one event, UnknownField.
	Unusual string
}

// GadgetExtension implements gadget.Extension.
func (*Samples) GadgetExtension() string { return "plugin test samples" }

// SamplesOf returns the samples info declares, and whether it declares
// any.
func SamplesOf(info *gadget.Info) (*Samples, bool) {
	for _, x := range info.Extensions {
		if s, ok := x.(*Samples); ok {
			return s, true
		}
	}
	return nil, false
}

// Check reports what makes s unfit for the cases.
func (s *Samples) Check() error {
	var ordinary, unusual []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s.Ordinary), &ordinary); err != nil {
		return fmt.Errorf("samples: Ordinary is not a JSON array of events: %w", err)
	}
	if len(ordinary) < 2 {
		return fmt.Errorf("samples: Ordinary holds %d events: give at least two", len(ordinary))
	}
	if err := json.Unmarshal([]byte(s.Unusual), &unusual); err != nil {
		return fmt.Errorf("samples: Unusual is not a JSON array of events: %w", err)
	}
	if err := keepsUnknown([]byte(s.Unusual)); err != nil {
		return fmt.Errorf("samples: Unusual must carry %s on one event", UnknownField)
	}
	return nil
}

// ready checks o before any case runs: a failed Result when it cannot.
func (o Options) ready() []Result {
	switch {
	case o.Gadget == "":
		return []Result{{"samples", errors.New("no gadget named: pass --gadget NAME")}}
	case o.Samples == nil:
		return []Result{{"samples", fmt.Errorf("gadget %s declares no sample batches to test a plugin with "+
			"(plugincheck.Samples in its gadget.Info.Extensions)", o.Gadget)}}
	}
	if err := o.Samples.Check(); err != nil {
		return []Result{{"samples", fmt.Errorf("gadget %s: %w", o.Gadget, err)}}
	}
	return nil
}

// Formatter runs the formatter cases against f.
func Formatter(ctx context.Context, f plugin.Formatter, o Options) []Result {
	if rs := o.ready(); rs != nil {
		return rs
	}
	ordinary, unusual := o.Samples.Ordinary, o.Samples.Unusual
	call := func(seq uint64, final bool, events string) (plugin.Formatted, error) {
		return f.Format(ctx, plugin.Batch{Gadget: o.Gadget, Sequence: seq, Final: final, Events: []byte(events)}, o.Params)
	}
	var first []byte
	rs := []Result{
		{"manifest", checkManifest(f.Manifest(), abi.KindFormatter)},
		{"formats ordinary events", func() error {
			out, err := call(1, false, ordinary)
			first = out.Data
			return err
		}()},
		{"formats an empty final batch", func() error { _, err := call(2, true, "[]"); return err }()},
		{"formats a warning, escapes, unicode and unknown fields", func() error { _, err := call(3, false, unusual); return err }()},
		{"same batch, same output", func() error {
			out, err := call(1, false, ordinary)
			if err == nil && !bytes.Equal(out.Data, first) {
				err = fmt.Errorf("the second call's output (%d bytes) differs from the first's (%d bytes)", len(out.Data), len(first))
			}
			return err
		}()},
		{"concurrent calls", concurrently(func() ([]byte, error) {
			out, err := call(1, false, ordinary)
			return out.Data, err
		}, first)},
	}
	return rs
}

// Enricher runs the enricher cases against e.
func Enricher(ctx context.Context, e plugin.Enricher, o Options) []Result {
	if rs := o.ready(); rs != nil {
		return rs
	}
	ordinary, unusual := o.Samples.Ordinary, o.Samples.Unusual
	call := func(seq uint64, events string) ([]byte, error) {
		out, err := e.Enrich(ctx, plugin.Batch{Gadget: o.Gadget, Sequence: seq, Events: []byte(events)}, o.Params)
		if err == nil {
			err = checkEnriched(events, out, o)
		}
		return out, err
	}
	var first []byte
	return []Result{
		{"manifest", checkManifest(e.Manifest(), abi.KindEnricher)},
		{"enriches ordinary events, keeping them", func() (err error) { first, err = call(1, ordinary); return err }()},
		{"enriches an empty batch", func() error {
			out, err := call(2, "[]")
			if err == nil && string(bytes.TrimSpace(out)) != "[]" {
				err = fmt.Errorf("returned %.60q for an empty batch, want []", out)
			}
			return err
		}()},
		{"keeps a warning, escapes, unicode and unknown fields", func() error {
			out, err := call(3, unusual)
			if err == nil {
				err = keepsUnknown(out)
			}
			return err
		}()},
		{"same batch, same result", func() error {
			out, err := call(1, ordinary)
			if err == nil && !bytes.Equal(out, first) {
				err = fmt.Errorf("the second call's result differs from the first's: %.80q, then %.80q", first, out)
			}
			return err
		}()},
		{"concurrent calls", concurrently(func() ([]byte, error) { return call(1, ordinary) }, first)},
	}
}

func checkManifest(m abi.Manifest, kind abi.Kind) error {
	if err := abi.CheckName(m.Name); err != nil {
		return err
	}
	switch {
	case m.Kind != kind:
		return fmt.Errorf("kind %q, want %q", m.Kind, kind)
	case m.ContractVersion != abi.ContractVersion:
		return fmt.Errorf("contract version %d, want %d", m.ContractVersion, abi.ContractVersion)
	case kind == abi.KindFormatter && m.MediaType == "":
		return errors.New(`no media type: set Manifest.MediaType, e.g. "text/plain"`)
	}
	return nil
}

// checkEnriched checks that out is a JSON array of objects, as many as
// in or fewer, and passes the gadget's own check.
func checkEnriched(in string, out []byte, o Options) error {
	var ins, outs []json.RawMessage
	if err := json.Unmarshal([]byte(in), &ins); err != nil {
		return fmt.Errorf("the test batch: %w", err)
	}
	if err := json.Unmarshal(out, &outs); err != nil {
		return fmt.Errorf("the result is not a JSON array of events: %w", err)
	}
	if o.CheckEnriched != nil {
		// The gadget's check names the event.
		return o.CheckEnriched([]byte(in), out)
	}
	if len(outs) > len(ins) {
		return fmt.Errorf("%d events in, %d out: an enricher must not invent events", len(ins), len(outs))
	}
	return nil
}

// keepsUnknown checks that an enriched batch still carries the field of
// the unusual batch that no gadget defines.
func keepsUnknown(out []byte) error {
	var events []map[string]json.RawMessage
	if err := json.Unmarshal(out, &events); err != nil {
		return fmt.Errorf("the result is not a JSON array of objects: %w", err)
	}
	for _, ev := range events {
		if v, ok := ev["x-unknown"]; ok {
			if string(bytes.Join(bytes.Fields(v), nil)) != `{"kept":[1,2]}` {
				return fmt.Errorf(`the field "x-unknown" came back as %s, want {"kept":[1,2]}`, v)
			}
			return nil
		}
	}
	return errors.New(`the field "x-unknown" was dropped: an enricher keeps every field it does not change`)
}

// concurrently makes 8 calls at once and checks that each gives want.
func concurrently(call func() ([]byte, error), want []byte) error {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			out, err := call()
			if err == nil && !bytes.Equal(out, want) {
				err = fmt.Errorf("call %d gave %d bytes, the sequential call %d", i, len(out), len(want))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d calls failed, the first: %w", failed, len(errs), first)
	}
	return nil
}
