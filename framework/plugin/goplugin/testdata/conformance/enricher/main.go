// Command enricher serves plugins/conformance's enricher as a go-plugin
// plugin, for the conformance suite.
package main

import (
	"context"

	"github.com/gadgetkit/gadget/plugins/conformance"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin"
)

type enricher struct{}

func (enricher) Manifest() abi.Manifest { return conformance.EnricherManifest }

func (enricher) Enrich(_ context.Context, req abi.Request) ([]byte, error) {
	return conformance.Enrich(req)
}

func main() { goplugin.ServeEnricher(enricher{}) }
