// Command gendocs writes the documentation pages of every registered gadget
// and their index. `make generate-documentation` runs it from the root of
// the repository:
//
//	go run ./cmd/gendocs -out docs/gadgets \
//	    -crd deploy/crd/gadget.kinvolk.io_traces.yaml -crd-out docs/reference/trace.md
//
// With -crd it also writes the reference page of the Trace CRD's fields,
// rendered from the generated CRD YAML.
//
// It must run inside the module, where the gadgets' types packages can be
// found by the go command.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gadgetkit/gadget/framework/docgen"
	"github.com/gadgetkit/gadget/framework/registry"

	// The gadgets to document register themselves.
	_ "github.com/gadgetkit/gadget/gadgets/all"
)

func main() {
	out := flag.String("out", "docs/gadgets", "directory to write the gadget pages and their index to")
	crd := flag.String("crd", "", "CRD YAML to render a field reference page from (optional)")
	crdOut := flag.String("crd-out", "docs/reference/trace.md", "file to write the CRD reference page to, with -crd")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gendocs: unexpected arguments %q; flags are -out DIR, -crd FILE, -crd-out FILE\n", flag.Args())
		os.Exit(2)
	}
	if err := docgen.Write(registry.Default, *out); err != nil {
		fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
		os.Exit(1)
	}
	if *crd != "" {
		if err := writeCRDPage(*crd, *crdOut); err != nil {
			fmt.Fprintf(os.Stderr, "gendocs: %v\n", err)
			os.Exit(1)
		}
	}
}

// writeCRDPage renders the reference page of the CRD in file crd into out,
// leaving out untouched when its content would not change.
func writeCRDPage(crd, out string) error {
	src, err := os.ReadFile(crd)
	if err != nil {
		return fmt.Errorf("-crd: %w", err)
	}
	page, err := docgen.CRDPage(src, traceIntro)
	if err != nil {
		return fmt.Errorf("-crd %s: %w", crd, err)
	}
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, page) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("-crd-out: %w", err)
	}
	if err := os.WriteFile(out, page, 0o644); err != nil {
		return fmt.Errorf("-crd-out: %w", err)
	}
	return nil
}

// traceIntro introduces the Trace reference page.
const traceIntro = `A Trace runs one gadget on one node. The node agent on ` + "`spec.node`" + ` runs ` + "`spec.gadget`" + `
for the pods that ` + "`spec.filter`" + ` selects and carries out the operation set by the annotation
` + "`gadget.kinvolk.io/operation`" + ` (e.g. ` + "`start`, `stop`" + `); it removes the annotation once the operation is
handled and reports the result in ` + "`status`" + `. The operations, output modes and parameters of each gadget
are on its page under [gadgets](../gadgets/README.md).`
