// Package plugin defines what happens to a gadget's events after the
// kernel: an ordered chain of Enrichers and one Formatter, each called once
// per batch, never per event. Each can be built into the binary, run as a
// hashicorp/go-plugin subprocess (gRPC) or as a WASM module run by wazero;
// all three hosts implement the same interfaces, and everything that
// crosses a process or sandbox boundary is the wire contract of
// plugins/sdk/abi.
package plugin

import (
	"context"
	"errors"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Batch is one batch of a gadget's events on its way through the plugins.
type Batch struct {
	// Gadget is the name of the gadget the events come from.
	Gadget string
	// Sequence numbers the batches of a trace from 1.
	Sequence uint64
	// Final marks the last batch of a trace.
	Final bool
	// Events is a JSON array of the gadget's events. It is nil when Values
	// is given to a ValueFormatter.
	Events []byte
	// Values is the batch as the gadget's own Go values (e.g.
	// []types.Event), set only for a ValueFormatter's FormatValues: with
	// built-in stages only, events go from the tracer to the formatter
	// without JSON. Nothing crossing a process or sandbox boundary sees it.
	Values any
}

// ValueFormatter is a Formatter built into the binary that also renders a
// batch of the gadget's Go values (Batch.Values) without decoding JSON.
type ValueFormatter interface {
	Formatter
	// FormatValues renders b.Values; b.Events is nil.
	FormatValues(ctx context.Context, b Batch, params map[string]string) (Formatted, error)
}

// Formatted is what a Formatter produced.
type Formatted struct {
	Data      []byte
	MediaType string
}

// Enricher adds information to a batch of events.
type Enricher interface {
	// Manifest describes the plugin.
	Manifest() abi.Manifest
	// Enrich returns the enriched batch, a JSON array of events. A host
	// checks only that the result starts as one ('['): the caller decodes
	// it, and that decoding is the one pass that finds the rest wrong (the
	// pipeline's Config.Decode, or its JSON check without one).
	Enrich(ctx context.Context, b Batch, params map[string]string) ([]byte, error)
	// Close releases the plugin (its process or WASM instances).
	Close() error
}

// Formatter renders a batch of events.
type Formatter interface {
	// Manifest describes the plugin.
	Manifest() abi.Manifest
	// Format renders the batch.
	Format(ctx context.Context, b Batch, params map[string]string) (Formatted, error)
	// Close releases the plugin.
	Close() error
}

// Errors that callers tell apart with errors.Is.
var (
	// ErrPluginFailed wraps every failure of a plugin call: a trap, a
	// panic, a timeout, a dead process, garbage or an oversized result.
	ErrPluginFailed = errors.New("plugin failed")
	// ErrIncompatible is returned when a plugin's manifest names a kind or
	// contract version this host does not speak.
	ErrIncompatible = errors.New("incompatible plugin")
	// ErrNotFound is returned when a plugin name or path resolves to
	// nothing.
	ErrNotFound = errors.New("plugin not found")
)
