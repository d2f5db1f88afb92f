// Package abi is the wire contract between gadget and its out-of-process
// plugins (go-plugin subprocesses and WASM modules). It is the one place
// the contract is defined: the framework's plugin hosts and the SDKs both
// use these types, and docs/plugins.md documents them for plugins written
// in other languages.
//
// Every call carries one Request and returns one Response, each encoded as
// a JSON object. The batch inside them is a JSON array of the gadget's
// events in their documented JSON form (for network-graph, the Event of
// gadgets/networkgraph/types). A plugin states the Kind it implements and
// the ContractVersion it speaks in its Manifest; the host refuses a plugin
// whose kind or major version it does not know.
//
// This package imports nothing from the framework, so third parties can
// depend on it without pulling the framework in.
package abi

import (
	"errors"
	"fmt"
)

// ContractVersion is the version of this contract. A host accepts plugins
// of the same version only; the version is bumped on any incompatible
// change of Request, Response or Manifest.
const ContractVersion = 1

// Kind is what a plugin does with a batch.
type Kind string

// The kinds of plugins.
const (
	// KindEnricher returns the batch with fields added or changed. It must
	// return a JSON array of events; it may drop events but never invent
	// new edges or change an edge's identity (the host checks). What it
	// adds goes into an event's "annotations" object under keys
	// "<plugin name>/<name>" (see docs/plugins.md).
	KindEnricher Kind = "enricher"
	// KindFormatter renders the batch as bytes of a media type, e.g. a
	// Graphviz graph.
	KindFormatter Kind = "formatter"
)

// Manifest describes a plugin. The host asks for it once, when it loads
// the plugin.
type Manifest struct {
	// Name is the plugin's name, e.g. "dot": lower-case words of letters
	// and digits joined by '-', at most MaxNameLen bytes (see CheckName).
	// Hosts refuse a plugin whose name breaks the rule.
	Name string `json:"name"`
	// Kind is what the plugin does.
	Kind Kind `json:"kind"`
	// ContractVersion is the version of this contract the plugin speaks.
	ContractVersion int `json:"contractVersion"`
	// MediaType is the media type a formatter produces, e.g.
	// "text/vnd.graphviz". Empty for enrichers.
	MediaType string `json:"mediaType,omitempty"`
	// Description is one line, shown by `gadget plugin inspect`.
	Description string `json:"description,omitempty"`
	// Streaming, for a formatter, asks for every batch as it arrives (e.g.
	// JSON lines); otherwise the formatter is called once, on the final
	// graph, with Request.Final set. Ignored for enrichers, which always
	// see every batch.
	Streaming bool `json:"streaming,omitempty"`
	// Gadgets, if set, names the gadgets whose events the plugin
	// understands, e.g. ["network-graph"]; empty means any. Shown by
	// `gadget plugin inspect`. Gadgets and Parameters travel in the JSON
	// manifest of WASM plugins; the gRPC manifest of go-plugin plugins
	// does not carry them yet.
	Gadgets []string `json:"gadgets,omitempty"`
	// Parameters, if set, documents the parameters the plugin takes
	// (--plugin-param NAME.KEY=VALUE). Shown by `gadget plugin inspect`.
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Parameter documents one parameter of a plugin.
type Parameter struct {
	// Name is the parameter's key, e.g. "ports".
	Name string `json:"name"`
	// Description says what it does and gives an example value.
	Description string `json:"description,omitempty"`
}

// Request is one call: a batch and the user's parameters.
type Request struct {
	// ContractVersion is the host's ContractVersion.
	ContractVersion int `json:"contractVersion"`
	// Kind is the kind of call, the plugin's Kind.
	Kind Kind `json:"kind"`
	// Gadget is the name of the gadget the events come from, e.g.
	// "network-graph".
	Gadget string `json:"gadget"`
	// Sequence numbers the batches of one trace from 1, so errors can name
	// the batch.
	Sequence uint64 `json:"sequence"`
	// Final is true for the last batch of a trace (a formatter of the
	// final graph receives only that one).
	Final bool `json:"final,omitempty"`
	// Batch is a JSON array of events.
	Batch RawJSON `json:"batch"`
	// Parameters are the plugin's parameters, as the user gave them.
	Parameters map[string]string `json:"parameters,omitempty"`
	// RawData, set by a WASM host that accepts it, lets a formatter answer
	// a successful call with its output as it is instead of a JSON
	// Response: the byte RawDataMark followed by the output (see
	// docs/plugins.md). Without it, or to report an error, a formatter
	// answers with JSON.
	RawData bool `json:"rawData,omitempty"`
}

// RawDataMark starts a formatter's raw response (Request.RawData): the
// rest of the response is the output. JSON never starts with it.
const RawDataMark = 0x00

// Response is the result of one call: exactly one of Error and the result
// fields is set.
type Response struct {
	// Batch is the enriched batch (enrichers): a JSON array of events.
	Batch RawJSON `json:"batch,omitempty"`
	// Data is the rendered output (formatters), base64 in JSON.
	Data []byte `json:"data,omitempty"`
	// MediaType is the media type of Data (formatters).
	MediaType string `json:"mediaType,omitempty"`
	// Error, when not empty, fails the call with this message.
	Error string `json:"error,omitempty"`
}

// RawJSON is an already encoded JSON value, kept as it is.
type RawJSON []byte

// MarshalJSON returns m, or null when m is empty.
func (m RawJSON) MarshalJSON() ([]byte, error) {
	if len(m) == 0 {
		return []byte("null"), nil
	}
	return m, nil
}

// UnmarshalJSON keeps a copy of data.
func (m *RawJSON) UnmarshalJSON(data []byte) error {
	*m = append((*m)[:0], data...)
	return nil
}

// MaxNameLen is the longest plugin name.
const MaxNameLen = 64

// ErrBadName is wrapped by CheckName's errors.
var ErrBadName = errors.New("bad plugin name")

// CheckName returns nil when name is a valid plugin name: lower-case
// words of ASCII letters and digits joined by single '-', starting with a
// letter, at most MaxNameLen bytes, e.g. "dot" or "port-names". The name
// is how users pick a plugin (--formatter NAME, --plugin-param NAME.KEY=V)
// and the file name in a plugin directory, so it may hold no '/', '.',
// space or upper case. The error, wrapping ErrBadName, says what to change.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: the manifest has no name; set Manifest.Name, e.g. \"graphml\"", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrBadName, name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		case c == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-':
		default:
			return fmt.Errorf("%w: %q: use lower-case letters, digits and single '-' between words, starting with a letter (e.g. \"port-names\")", ErrBadName, name)
		}
	}
	return nil
}
