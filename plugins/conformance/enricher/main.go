// Command enricher is the conformance enricher as a WASM guest.
package main

import (
	"github.com/gadgetkit/gadget/plugins/conformance"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() { wasm.Enricher(conformance.EnricherManifest, conformance.Enrich) }

func main() {}
