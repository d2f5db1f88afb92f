// Package wasm is the Go guest SDK for gadget's WASM plugins. A plugin is a
// WASI reactor module built with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my.wasm .
//
// Its main package registers one handler in an init function (main is never
// called in a reactor) and has an empty main:
//
//	func init() {
//		wasm.Formatter(abi.Manifest{Name: "my", MediaType: "text/plain"}, format)
//	}
//
//	func main() {}
//
// The package exports the raw ABI of docs/plugins.md (gadget_manifest,
// gadget_alloc, gadget_call) for the handler. Handlers are called one at a
// time: the host never calls an instance concurrently. The package imports
// nothing from gadget's framework.
package wasm

import (
	"encoding/json"
	"fmt"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Handler handles one call. A formatter's handler returns the rendered
// bytes, an enricher's the enriched batch as a JSON array of events. An
// error fails the call with its message; the instance stays usable.
//
// req.Batch is valid only during the call: its memory serves the next
// request. Copy what you keep. Read large batches with ForEachObject.
type Handler func(req abi.Request) ([]byte, error)

// registered is the plugin of this module, set once by init functions
// before the host calls any export. It is package state because the
// exports are plain functions the host calls by name; outside WASM it is
// set and never read.
var registered struct {
	name     string
	manifest []byte
	kind     abi.Kind
	handler  Handler
}

// Formatter registers h as the module's formatter described by m. The
// manifest's Kind and ContractVersion are set for the caller. Call it once,
// from an init function.
func Formatter(m abi.Manifest, h Handler) {
	m.Kind = abi.KindFormatter
	register(m, h)
}

// Enricher registers h as the module's enricher described by m. Call it
// once, from an init function.
func Enricher(m abi.Manifest, h Handler) {
	m.Kind = abi.KindEnricher
	register(m, h)
}

// register records the module's one plugin. It panics (in an init
// function, which fails the module's start with the message) when the
// name breaks abi.CheckName's rule, when h is nil or when a plugin is
// registered already: a module is one plugin.
func register(m abi.Manifest, h Handler) {
	if err := registerErr(m, h); err != nil {
		panic("gadget plugin: " + err.Error())
	}
	m.ContractVersion = abi.ContractVersion
	b, err := json.Marshal(m)
	if err != nil {
		// A Manifest of strings and bools always marshals.
		b = []byte(`{}`)
	}
	registered.name = m.Name
	registered.manifest, registered.kind, registered.handler = b, m.Kind, h
}

func registerErr(m abi.Manifest, h Handler) error {
	switch {
	case registered.handler != nil:
		return fmt.Errorf("%s %q registered after %q: a module is one plugin; register one handler (build a second module for a second plugin)", m.Kind, m.Name, registered.name)
	case h == nil:
		return fmt.Errorf("%s %q registered with a nil handler", m.Kind, m.Name)
	}
	return abi.CheckName(m.Name)
}
