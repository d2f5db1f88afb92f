// Command csv is gadget's reference go-plugin formatter: it renders the
// network-graph edges of a batch as CSV (RFC 4180), one row per edge under
// a header row. Build it with `make plugins` and use it with
// `gadget run network-graph --formatter bin/plugins/csv`.
//
// Parameters: header=false leaves out the header row.
package main

import "github.com/gadgetkit/gadget/plugins/sdk/goplugin"

func main() {
	goplugin.Serve(formatter{})
}
