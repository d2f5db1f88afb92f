// Package types defines the events of the network-graph gadget: one Event
// is one edge of the graph, a TCP connection or UDP stream between a watched
// pod and a remote end, with its direction, protocol, address and port.
package types

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
)

// Event is one edge of the network graph.
type Event struct {
	eventtypes.Event

	PktType string `json:"pktType,omitempty"`
	Proto   string `json:"proto,omitempty"`
	IP      string `json:"ip,omitempty"`
	Port    int    `json:"port,omitempty"`

	/* pod, svc or other */
	RemoteKind string `json:"remoteKind,omitempty"`

	PodHostIP string            `json:"podHostIP,omitempty"`
	PodIP     string            `json:"podIP,omitempty"`
	PodOwner  string            `json:"podOwner,omitempty"`
	PodLabels map[string]string `json:"podLabels,omitempty"`

	/* if RemoteKind = svc */
	RemoteSvcNamespace     string            `json:"remoteServiceNamespace,omitempty"`
	RemoteSvcName          string            `json:"remoteServiceName,omitempty"`
	RemoteSvcLabelSelector map[string]string `json:"remoteServiceLabelSelector,omitempty"`

	/* if RemoteKind = pod */
	RemotePodNamespace string            `json:"remotePodNamespace,omitempty"`
	RemotePodName      string            `json:"remotePodName,omitempty"`
	RemotePodLabels    map[string]string `json:"remotePodLabels,omitempty"`

	/* if RemoteKind = other */
	RemoteOther string `json:"remoteOther,omitempty"`

	Debug string `json:"debug,omitempty"`

	/* what enrichers add: "<plugin>/<name>" keys, e.g. "portnames/service" */
	Annotations map[string]string `json:"annotations,omitempty"`

	/* the DNS name the pod resolved to IP (the queried name, not the last
	   CNAME), when the trace's dns data has it; RemoteNameStale once
	   the answer's TTL has run out */
	RemoteName      string `json:"remoteName,omitempty"`
	RemoteNameStale bool   `json:"remoteNameStale,omitempty"`

	/* counters and times, summed and widened by Unique. Packets are TCP
	   segments or UDP datagrams, both directions, each GSO segment once;
	   Bytes are network-layer bytes on the wire, each segment's IP and
	   transport headers included; the same in every attach mode (see
	   docs/architecture.md). At the socket (attach=socket), a TCP edge's
	   times are when its counters were read: handshake, close, interval */
	Packets   uint64    `json:"packets,omitempty"`
	Bytes     uint64    `json:"bytes,omitempty"`
	FirstSeen time.Time `json:"firstSeen,omitzero"`
	LastSeen  time.Time `json:"lastSeen,omitzero"`
}

// Values of PktType: the direction of the connection or stream, from the
// point of view of the watched pod.
const (
	// PktTypeHost is an incoming connection: IP is the client, Port the
	// pod's own (server) port.
	PktTypeHost = "HOST"
	// PktTypeOutgoing is an outgoing connection: IP and Port are the
	// server's.
	PktTypeOutgoing = "OUTGOING"
)

// Values of RemoteKind.
const (
	RemoteKindPod   = "pod"
	RemoteKindSvc   = "svc"
	RemoteKindOther = "other"
)

// GetBaseEvent returns the embedded base event.
func (e Event) GetBaseEvent() eventtypes.Event {
	return e.Event
}

// Key identifies an edge: namespace/pod/pktType/proto/ip/port.
func (e *Event) Key() string {
	return fmt.Sprintf("%s/%s/%s/%s/%s/%d", e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, e.Port)
}

// IsEdge reports whether e is a record of the graph rather than a warning
// or error about the trace.
func (e *Event) IsEdge() bool {
	return e.Type == "" || e.Type == eventtypes.NORMAL
}

// Unique merges the edges that share a Key: the first occurrence keeps its
// place and its fields, the packet and byte counters of the later ones are
// added to it, FirstSeen/LastSeen widen to cover them all, and the last
// RemoteName seen (with its RemoteNameStale) is kept. Warn and err
// events are kept as they are, in order. The input is not modified.
func Unique(edges []Event) []Event {
	g := Graph{events: make([]Event, 0, len(edges)), index: make(map[edgeKey]int, len(edges))}
	g.Add(edges...)
	return g.events
}

// Graph merges edges as Unique does, batch by batch, as they arrive: it
// holds one Event per unique edge (and every warn and err event), so its
// memory follows the size of the graph, not the number of events added.
// Add costs one map lookup per event. The zero Graph is empty and ready
// to use; a Graph is not safe for concurrent use.
type Graph struct {
	events []Event
	index  map[edgeKey]int
}

// Add merges events into the graph, as Unique merges them: the first
// occurrence of an edge keeps its place and fields, later ones add their
// counters, widen FirstSeen/LastSeen and update RemoteName. The events are
// copied; the caller may reuse the slice.
func (g *Graph) Add(events ...Event) {
	if g.index == nil {
		g.index = make(map[edgeKey]int, len(events))
	}
	for _, e := range events {
		if !e.IsEdge() {
			g.events = append(g.events, e)
			continue
		}
		// The fields of Key, without building its string.
		k := edgeKey{e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, e.Port}
		i, seen := g.index[k]
		if !seen {
			g.index[k] = len(g.events)
			g.events = append(g.events, e)
			continue
		}
		m := &g.events[i]
		m.Packets += e.Packets
		m.Bytes += e.Bytes
		if !e.FirstSeen.IsZero() && (m.FirstSeen.IsZero() || e.FirstSeen.Before(m.FirstSeen)) {
			m.FirstSeen = e.FirstSeen
		}
		if e.LastSeen.After(m.LastSeen) {
			m.LastSeen = e.LastSeen
		}
		if e.RemoteName != "" {
			// The later observation of the name is the current one.
			m.RemoteName, m.RemoteNameStale = e.RemoteName, e.RemoteNameStale
		}
	}
}

// Len returns the number of events in the graph: unique edges plus warn
// and err events.
func (g *Graph) Len() int { return len(g.events) }

// Events returns the merged events, edges in the order they were first
// added and warn and err events in theirs. The slice is the graph's own:
// the caller must not modify it while it goes on adding.
func (g *Graph) Events() []Event { return g.events }

// edgeKey is Key as a comparable value.
type edgeKey struct {
	namespace, pod, pktType, proto, ip string
	port                               int
}

// EventsString returns the events as one indented JSON array, sorted so
// that the same graph always reads the same: edges by Key, then warn and
// err events in their original order. The input is not modified; if the
// events cannot be marshalled, the error comes back as a JSON string so
// that the caller always gets JSON.
func EventsString(edges []Event) string {
	sorted := make([]Event, len(edges))
	copy(sorted, edges)
	sort.SliceStable(sorted, func(i, j int) bool {
		ei, ej := sorted[i].IsEdge(), sorted[j].IsEdge()
		if ei != ej {
			return ei
		}
		return ei && sorted[i].Key() < sorted[j].Key()
	})
	b, err := json.MarshalIndent(sorted, "", "  ")
	if err != nil {
		q, _ := json.Marshal("cannot marshal network-graph events: " + err.Error())
		return string(q)
	}
	return strings.TrimSpace(string(b))
}
