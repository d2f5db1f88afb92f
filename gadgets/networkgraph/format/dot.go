package format

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// dotNode is a vertex of the DOT graph: a watched pod, or a remote end.
type dotNode struct {
	id    string
	label string
	pod   bool
}

// dotEdge is an arrow of the DOT graph, labelled proto/port.
type dotEdge struct {
	from, to string
	proto    string
	port     int
}

// label is proto/port (or proto alone without a port), then each of
// notes, the arrow's annotations as key=value, on a line of its own.
func (e dotEdge) label(notes []string) string {
	l := e.proto
	if e.port != 0 {
		l += "/" + strconv.Itoa(e.port)
	}
	for _, n := range notes {
		l += "\n" + n
	}
	return l
}

// renderDOT writes edges as a Graphviz digraph. Pods are boxes; remote
// ends are ellipses, unless the remote address is the PodIP of a pod of the
// graph, or an enricher named the remote pod, in which case the arrow goes
// to that pod's box. OUTGOING edges point from the pod to the remote end,
// HOST edges from the remote end (the client) to the pod. Nodes and edges
// are written in a fixed order, so equal graphs give equal files. An
// arrow's label lists the annotations of its events, sorted, each once.
func renderDOT(w io.Writer, edges []types.Event) error {
	podByIP := map[string]string{}
	for _, e := range edges {
		if e.PodIP != "" {
			podByIP[e.PodIP] = podID(e.Namespace, e.Pod)
		}
	}

	nodes := map[string]dotNode{}
	notes := map[dotEdge][]string{}
	var arrows []dotEdge
	for _, e := range edges {
		pod := dotNode{id: podID(e.Namespace, e.Pod), label: qualified(e.Namespace, e.Pod), pod: true}
		nodes[pod.id] = pod
		far := remoteNode(e, podByIP)
		if prev, ok := nodes[far.id]; !ok || !prev.pod {
			nodes[far.id] = far
		}
		a := dotEdge{from: pod.id, to: far.id, proto: e.Proto, port: e.Port}
		if e.PktType == types.PktTypeHost {
			a.from, a.to = far.id, pod.id
		}
		n, ok := notes[a]
		if !ok {
			arrows = append(arrows, a)
		}
		for k, v := range e.Annotations {
			n = append(n, k+"="+v)
		}
		notes[a] = n
	}
	for a, n := range notes {
		if len(n) > 1 {
			slices.Sort(n)
			notes[a] = slices.Compact(n)
		}
	}

	sorted := make([]dotNode, 0, len(nodes))
	for _, n := range nodes {
		sorted = append(sorted, n)
	}
	slices.SortFunc(sorted, func(a, b dotNode) int {
		if a.pod != b.pod {
			if a.pod {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.id, b.id)
	})
	slices.SortFunc(arrows, func(a, b dotEdge) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to),
			cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port))
	})

	var b strings.Builder
	b.WriteString("digraph \"network-graph\" {\n")
	b.WriteString("\trankdir=LR;\n")
	b.WriteString("\tnode [fontname=\"sans-serif\"];\n")
	b.WriteString("\tedge [fontname=\"sans-serif\"];\n")
	for _, n := range sorted {
		shape := "ellipse"
		if n.pod {
			shape = "box"
		}
		fmt.Fprintf(&b, "\t%s [label=%s, shape=%s];\n", dotQuote(n.id), dotQuote(n.label), shape)
	}
	for _, a := range arrows {
		fmt.Fprintf(&b, "\t%s -> %s [label=%s];\n", dotQuote(a.from), dotQuote(a.to), dotQuote(a.label(notes[a])))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// podID is the DOT identifier of a pod.
func podID(namespace, pod string) string {
	return "pod:" + qualified(namespace, pod)
}

// remoteNode returns the vertex of the remote end of e.
func remoteNode(e types.Event, podByIP map[string]string) dotNode {
	switch {
	case e.RemoteKind == types.RemoteKindPod && e.RemotePodName != "":
		return dotNode{
			id:    podID(e.RemotePodNamespace, e.RemotePodName),
			label: qualified(e.RemotePodNamespace, e.RemotePodName),
			pod:   true,
		}
	case e.RemoteKind == types.RemoteKindSvc && e.RemoteSvcName != "":
		name := qualified(e.RemoteSvcNamespace, e.RemoteSvcName)
		return dotNode{id: "svc:" + name, label: "svc " + name}
	}
	if id, ok := podByIP[e.IP]; ok && e.IP != "" {
		return dotNode{id: id, label: strings.TrimPrefix(id, "pod:"), pod: true}
	}
	label := e.IP
	if e.RemoteOther != "" && e.RemoteOther != e.IP {
		label = e.RemoteOther + "\n" + e.IP
	}
	if label == "" {
		label = "unknown"
	}
	if n := remoteName(e); n != "" {
		label = n + "\n" + label
	}
	return dotNode{id: "ip:" + e.IP, label: label}
}

// dotQuote returns s as a DOT double-quoted string: backslashes and double
// quotes are escaped, and a line break becomes the \n label escape.
func dotQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
