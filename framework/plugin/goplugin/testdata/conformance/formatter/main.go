// Command formatter serves plugins/conformance's formatter as a go-plugin
// plugin, for the conformance suite.
package main

import (
	"context"

	"github.com/gadgetkit/gadget/plugins/conformance"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin"
)

type formatter struct{}

func (formatter) Manifest() abi.Manifest { return conformance.FormatterManifest }

func (formatter) Format(_ context.Context, req abi.Request) ([]byte, string, error) {
	data, err := conformance.Format(req)
	return data, "", err
}

func main() { goplugin.Serve(formatter{}) }
