// Package graph turns network-graph events into the nodes and arrows of a
// graph, for the dot and mermaid formatters. It matches the built-in dot
// format of gadgets/networkgraph/format, which plugins may not import.
package graph

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/plugins/sdk/wasm"
)

// Graph is the graph of a set of edges, in a fixed order: pods first, then
// remote ends, each by ID; arrows by from, to, proto and port.
type Graph struct {
	Nodes  []Node
	Arrows []Arrow
}

// Event holds the fields of a network-graph event the graph needs.
type Event struct {
	Type               string `json:"type"`
	Namespace          string `json:"namespace"`
	Pod                string `json:"pod"`
	PktType            string `json:"pktType"`
	Proto              string `json:"proto"`
	IP                 string `json:"ip"`
	Port               int    `json:"port"`
	RemoteKind         string `json:"remoteKind"`
	PodIP              string `json:"podIP"`
	RemoteSvcNamespace string `json:"remoteServiceNamespace"`
	RemoteSvcName      string `json:"remoteServiceName"`
	RemotePodNamespace string `json:"remotePodNamespace"`
	RemotePodName      string `json:"remotePodName"`
	RemoteOther        string `json:"remoteOther"`
	// RemoteName is the DNS name the pod resolved to IP, if known;
	// RemoteNameStale says the answer's TTL had run out.
	RemoteName      string `json:"remoteName"`
	RemoteNameStale bool   `json:"remoteNameStale"`
	// Annotations are what enrichers added, "<plugin>/<name>" to value.
	Annotations map[string]string `json:"annotations"`
}

// IsEdge reports whether e is an edge rather than a warning or error.
func (e Event) IsEdge() bool { return e.Type == "" || e.Type == "normal" }

// Node is a vertex of the graph: a watched pod, or a remote end.
type Node struct {
	// ID identifies the node, e.g. "pod:ns/name", "svc:ns/name" or "ip:10.0.0.1".
	ID string
	// Label is the text to show; it may contain a line break.
	Label string
	// Pod is true for pods, false for remote ends.
	Pod bool
}

// Arrow is an edge of the graph, labelled proto/port and the annotations
// of the events it stands for.
type Arrow struct {
	From, To string
	Proto    string
	Port     int
	// Notes are the annotations of the arrow's events as key=value,
	// sorted, each once.
	Notes []string
}

// Label is proto/port (or proto alone without a port), then each note on
// a line of its own.
func (a Arrow) Label() string {
	l := a.Proto
	if a.Port != 0 {
		l += "/" + strconv.Itoa(a.Port)
	}
	for _, n := range a.Notes {
		l += "\n" + n
	}
	return l
}

// arrowID identifies an arrow: the events of one ID make one arrow.
type arrowID struct {
	from, to, proto string
	port            int
}

// Edges decodes a batch, a JSON array of events, and returns its edges
// without the warn and err events, in their order. It reads the batch
// with the SDK's reflection-free ForEachObject, which decodes the fields
// of Event as encoding/json would, many times faster in a WASM guest.
func Edges(batch []byte) ([]Event, error) {
	var events []Event
	err := wasm.ForEachObject(batch, func(o wasm.Object) error {
		var e Event
		port, err := o.Int("port")
		if err != nil {
			return err
		}
		if port != int64(int(port)) {
			return fmt.Errorf("field port: %d is out of range", port)
		}
		e.Port = int(port)
		// (Interning the many repeated values costs more than it saves
		// in a WASM guest: string hashing there is slow.)
		for _, f := range [...]struct {
			key string
			dst *string
		}{
			{"type", &e.Type}, {"namespace", &e.Namespace}, {"pod", &e.Pod}, {"pktType", &e.PktType},
			{"proto", &e.Proto}, {"ip", &e.IP}, {"remoteKind", &e.RemoteKind}, {"podIP", &e.PodIP},
			{"remoteServiceNamespace", &e.RemoteSvcNamespace}, {"remoteServiceName", &e.RemoteSvcName},
			{"remotePodNamespace", &e.RemotePodNamespace}, {"remotePodName", &e.RemotePodName},
			{"remoteOther", &e.RemoteOther}, {"remoteName", &e.RemoteName},
		} {
			if *f.dst, err = o.String(f.key); err != nil {
				return err
			}
		}
		if raw := bytes.TrimSpace(o.Raw("remoteNameStale")); len(raw) > 0 {
			switch string(raw) {
			case "true":
				e.RemoteNameStale = true
			case "false", "null":
			default:
				return fmt.Errorf("field remoteNameStale: %q is not a boolean", raw)
			}
		}
		if raw := o.Raw("annotations"); len(raw) > 0 && string(raw) != "null" {
			if e.Annotations, err = stringMap(raw); err != nil {
				return fmt.Errorf("field annotations: %w", err)
			}
		}
		if e.IsEdge() {
			events = append(events, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode the batch: %w", err)
	}
	return events, nil
}

// Build returns the graph of edges. A remote end is a pod when the address is the PodIP of a pod of the graph or an
// enricher named the remote pod. OUTGOING edges point from the pod,
// HOST edges to it. The order of nodes and edges is fixed.
func Build(edges []Event) Graph {
	podByIP := map[string]string{}
	for _, e := range edges {
		if e.PodIP != "" {
			podByIP[e.PodIP] = podID(e.Namespace, e.Pod)
		}
	}
	nodes := make(map[string]Node, len(edges))
	seen := make(map[arrowID]int, len(edges)) // index in arrows
	var arrows []Arrow
	for _, e := range edges {
		pod := Node{ID: podID(e.Namespace, e.Pod), Label: qualified(e.Namespace, e.Pod), Pod: true}
		nodes[pod.ID] = pod
		far := remote(e, podByIP)
		if prev, ok := nodes[far.ID]; !ok || !prev.Pod {
			nodes[far.ID] = far
		}
		a := Arrow{From: pod.ID, To: far.ID, Proto: e.Proto, Port: e.Port}
		if e.PktType == "HOST" {
			a.From, a.To = far.ID, pod.ID
		}
		id := arrowID{a.From, a.To, a.Proto, a.Port}
		i, ok := seen[id]
		if !ok {
			i = len(arrows)
			seen[id] = i
			arrows = append(arrows, a)
		}
		for k, v := range e.Annotations {
			arrows[i].Notes = append(arrows[i].Notes, k+"="+v)
		}
	}
	for i := range arrows {
		if len(arrows[i].Notes) > 1 {
			slices.Sort(arrows[i].Notes)
			arrows[i].Notes = slices.Compact(arrows[i].Notes)
		}
	}
	sorted := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		sorted = append(sorted, n)
	}
	slices.SortFunc(sorted, func(a, b Node) int {
		if a.Pod != b.Pod {
			if a.Pod {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.ID, b.ID)
	})
	slices.SortFunc(arrows, func(a, b Arrow) int {
		// Compared one field at a time: cmp.Or would compare them all.
		if a.From != b.From {
			return strings.Compare(a.From, b.From)
		}
		if a.To != b.To {
			return strings.Compare(a.To, b.To)
		}
		return cmp.Or(strings.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})

	return Graph{Nodes: sorted, Arrows: arrows}
}

func podID(namespace, pod string) string { return "pod:" + qualified(namespace, pod) }

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// remote returns the vertex of the remote end of e.
func remote(e Event, podByIP map[string]string) Node {
	switch {
	case e.RemoteKind == "pod" && e.RemotePodName != "":
		return Node{
			ID:    podID(e.RemotePodNamespace, e.RemotePodName),
			Label: qualified(e.RemotePodNamespace, e.RemotePodName),
			Pod:   true,
		}
	case e.RemoteKind == "svc" && e.RemoteSvcName != "":
		name := qualified(e.RemoteSvcNamespace, e.RemoteSvcName)
		return Node{ID: "svc:" + name, Label: "svc " + name}
	}
	if id, ok := podByIP[e.IP]; ok && e.IP != "" {
		return Node{ID: id, Label: strings.TrimPrefix(id, "pod:"), Pod: true}
	}
	label := e.IP
	if e.RemoteOther != "" && e.RemoteOther != e.IP {
		label = e.RemoteOther + "\n" + e.IP
	}
	if label == "" {
		label = "unknown"
	}
	if e.RemoteName != "" {
		// As the built-in dot format: the name above the address.
		name := e.RemoteName
		if e.RemoteNameStale {
			name += " (stale)"
		}
		label = name + "\n" + label
	}
	return Node{ID: "ip:" + e.IP, Label: label}
}

// stringMap decodes raw, a JSON object of strings.
func stringMap(raw []byte) (map[string]string, error) {
	m := map[string]string{}
	err := wasm.ForEachObject(append(append([]byte{'['}, raw...), ']'), func(o wasm.Object) error {
		for i := range o.Len() {
			k, _ := o.Member(i)
			v, err := o.String(string(k))
			if err != nil {
				return err
			}
			m[string(k)] = v
		}
		return nil
	})
	return m, err
}
