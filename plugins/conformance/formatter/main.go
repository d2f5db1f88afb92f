// Command formatter is the conformance formatter as a WASM guest.
package main

import (
	"github.com/gadgetkit/gadget/plugins/conformance"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() { wasm.Formatter(conformance.FormatterManifest, conformance.Format) }

func main() {}
