// Package format renders network-graph batches for the terminal: table,
// json, jsonl and dot. (stub, being written)
package format

import (
	"fmt"
	"io"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// Names returns the format names, default first.
func Names() []string { return []string{"table", "json", "jsonl", "dot"} }

// New returns the output called name.
func New(name string, w, errw io.Writer) (gadget.Output, error) {
	return nil, fmt.Errorf("%w %q", gadget.ErrUnknownFormat, name)
}
