// Command mermaid is the network-graph formatter "mermaid" as a WASM
// plugin: it renders the final graph as a Mermaid flowchart, for Markdown
// pages that render Mermaid (GitHub, GitLab). Use it with
// --formatter bin/plugins/mermaid.wasm.
package main

import (
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/plugins/internal/graph"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

func init() {
	wasm.Formatter(abi.Manifest{
		Name:        "mermaid",
		MediaType:   "text/vnd.mermaid",
		Description: "The network graph as a Mermaid flowchart.",
	}, format)
}

func main() {}

// format writes the edges of the batch as a left-to-right flowchart: pods
// are rectangles, remote ends stadiums, arrows labelled proto/port. Node
// ids are n0, n1, … in the graph's fixed order.
func format(req abi.Request) ([]byte, error) {
	edges, err := graph.Edges(req.Batch)
	if err != nil {
		return nil, err
	}
	g := graph.Build(edges)
	// Node ids are indices; appends rather than fmt: in a WASM guest
	// every call counts.
	ids := make(map[string]int, len(g.Nodes))
	b := make([]byte, 0, 48*(len(g.Nodes)+len(g.Arrows))+16)
	b = append(b, "flowchart LR\n"...)
	for i, n := range g.Nodes {
		ids[n.ID] = i
		b = strconv.AppendInt(append(b, "    n"...), int64(i), 10)
		if n.Pod {
			b = append(append(append(b, '['), quote(n.Label)...), "]\n"...)
		} else {
			b = append(append(append(b, "(["...), quote(n.Label)...), "])\n"...)
		}
	}
	for _, a := range g.Arrows {
		b = strconv.AppendInt(append(b, "    n"...), int64(ids[a.From]), 10)
		b = append(append(append(b, " -->|"...), quote(a.Label())...), "| n"...)
		b = strconv.AppendInt(b, int64(ids[a.To]), 10)
		b = append(b, '\n')
	}
	return b, nil
}

// quote returns s as a Mermaid quoted label: double quotes become #quot;,
// line breaks <br/>, and markup characters entity codes.
func quote(s string) string {
	return `"` + labelEscaper.Replace(s) + `"`
}

// labelEscaper escapes Mermaid labels. It is built once: a Replacer is
// costly to build, and a graph has thousands of labels.
var labelEscaper = strings.NewReplacer(`"`, "#quot;", "\r", "", "\n", "<br/>", "<", "#lt;", ">", "#gt;", "|", "#124;")
