// Command dot is the network-graph formatter "dot" as a WASM plugin: it
// renders the final graph as a Graphviz digraph, byte for byte as the
// built-in dot format does. Build it with make plugins (or GOOS=wasip1
// GOARCH=wasm go build -buildmode=c-shared) and use it with
// --formatter bin/plugins/dot.wasm.
package main

import (
	"github.com/gadgetkit/gadget/plugins/internal/graph"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() {
	wasm.Formatter(abi.Manifest{
		Name:        "dot",
		MediaType:   "text/vnd.graphviz",
		Description: "The network graph as a Graphviz digraph.",
	}, format)
}

func main() {}

// format writes the edges of the batch as a digraph: pods are boxes,
// remote ends ellipses, arrows labelled proto/port.
func format(req abi.Request) ([]byte, error) {
	edges, err := graph.Edges(req.Batch)
	if err != nil {
		return nil, err
	}
	g := graph.Build(edges)
	// Appends rather than fmt: in a WASM guest every call counts.
	b := make([]byte, 0, 64*(len(g.Nodes)+len(g.Arrows))+128)
	b = append(b, "digraph \"network-graph\" {\n"...)
	b = append(b, "\trankdir=LR;\n"...)
	b = append(b, "\tnode [fontname=\"sans-serif\"];\n"...)
	b = append(b, "\tedge [fontname=\"sans-serif\"];\n"...)
	for _, n := range g.Nodes {
		shape := "ellipse"
		if n.Pod {
			shape = "box"
		}
		b = appendQuoted(append(b, '\t'), n.ID)
		b = appendQuoted(append(b, " [label="...), n.Label)
		b = append(append(append(b, ", shape="...), shape...), "];\n"...)
	}
	for _, a := range g.Arrows {
		b = appendQuoted(append(b, '\t'), a.From)
		b = appendQuoted(append(b, " -> "...), a.To)
		b = appendQuoted(append(b, " [label="...), a.Label())
		b = append(b, "];\n"...)
	}
	return append(b, "}\n"...), nil
}

// appendQuoted appends s as a DOT double-quoted string: backslashes and
// double quotes escaped, a line break as the \n label escape, carriage
// returns dropped.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '"':
			esc = `\"`
		case '\n':
			esc = `\n`
		case '\r':
		default:
			continue
		}
		b = append(append(b, s[start:i]...), esc...)
		start = i + 1
	}
	return append(append(b, s[start:]...), '"')
}
