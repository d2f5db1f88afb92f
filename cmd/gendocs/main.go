// Command gendocs writes the documentation pages of every registered gadget
// and their index. `make generate-documentation` runs it from the root of
// the repository:
//
//	go run ./cmd/gendocs -out docs/gadgets
//
// It must run inside the module, where the gadgets' types packages can be
// found by the go command.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gadgetkit/gadget/framework/docgen"
	"github.com/gadgetkit/gadget/framework/registry"

	// The gadgets to document register themselves.
	_ "github.com/gadgetkit/gadget/gadgets/networkgraph"
)

func main() {
	out := flag.String("out", "docs/gadgets", "directory to write the gadget pages and their index to")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gendocs: unexpected arguments %q; the only flag is -out DIR\n", flag.Args())
		os.Exit(2)
	}
	if err := docgen.Write(registry.Default, *out); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
}
