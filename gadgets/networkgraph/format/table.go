package format

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// tableHeader are the columns of the table format.
var tableHeader = []string{"NODE", "NAMESPACE", "POD", "PKTTYPE", "PROTO", "IP", "PORT", "REMOTE", "PACKETS", "BYTES"}

// renderTable writes edges as aligned columns under a header; an empty
// field is shown as "-".
// An ANNOTATIONS column, the enrichers' annotations as sorted key=value
// pairs, is added when an edge has any.
func renderTable(w io.Writer, edges []types.Event) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	annotated := slices.ContainsFunc(edges, func(e types.Event) bool { return len(e.Annotations) > 0 })
	header := slices.Clone(tableHeader)
	if annotated {
		header = append(header, "ANNOTATIONS")
	}
	writeRow(tw, header)
	for _, e := range edges {
		row := []string{
			e.Node,
			e.Namespace,
			e.Pod,
			e.PktType,
			e.Proto,
			e.IP,
			number(uint64(max(e.Port, 0))),
			remote(e),
			number(e.Packets),
			number(e.Bytes),
		}
		if annotated {
			row = append(row, annotations(e.Annotations))
		}
		writeRow(tw, row)
	}
	return tw.Flush()
}

// annotations renders an edge's annotations as "k=v, k=v", sorted by key.
func annotations(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

// writeRow writes one tab-separated row; tabwriter reports write errors
// on Flush.
func writeRow(w io.Writer, cells []string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// cell makes s fit one table cell: "-" when empty, with tabs and line
// breaks folded into spaces so that the columns stay aligned.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// number renders a counter or port, empty when zero.
func number(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

// remote describes what the remote end of an edge is, when an enricher
// said so: "pod ns/name", "svc ns/name" or the free-form RemoteOther.
// A DNS name the pod resolved follows, e.g. "web.test" or
// "web.test (stale)".
func remote(e types.Event) string {
	var s string
	switch e.RemoteKind {
	case types.RemoteKindPod:
		s = "pod " + qualified(e.RemotePodNamespace, e.RemotePodName)
	case types.RemoteKindSvc:
		s = "svc " + qualified(e.RemoteSvcNamespace, e.RemoteSvcName)
	default:
		s = e.RemoteOther
	}
	if n := remoteName(e); n != "" {
		if s == "" {
			return n
		}
		return s + ", " + n
	}
	return s
}

// remoteName is the DNS name of the remote end, marked when stale.
func remoteName(e types.Event) string {
	if e.RemoteName == "" {
		return ""
	}
	if e.RemoteNameStale {
		return e.RemoteName + " (stale)"
	}
	return e.RemoteName
}

// qualified joins a namespace and a name as namespace/name, or returns the
// name alone when there is no namespace.
func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
