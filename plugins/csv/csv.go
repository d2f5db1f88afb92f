package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// header is the header row.
var header = []string{"node", "namespace", "pod", "pktType", "proto", "ip", "port", "remoteKind", "remote", "packets", "bytes", "annotations"}

// edge holds the fields of a network-graph event that the CSV shows, with
// the JSON names of gadgets/networkgraph/types.Event (this plugin, like any
// third-party one, only knows the JSON form).
type edge struct {
	Type               string `json:"type"`
	Node               string `json:"node"`
	Namespace          string `json:"namespace"`
	Pod                string `json:"pod"`
	PktType            string `json:"pktType"`
	Proto              string `json:"proto"`
	IP                 string `json:"ip"`
	Port               int    `json:"port"`
	RemoteKind         string `json:"remoteKind"`
	RemoteSvcNamespace string `json:"remoteServiceNamespace"`
	RemoteSvcName      string `json:"remoteServiceName"`
	RemotePodNamespace string `json:"remotePodNamespace"`
	RemotePodName      string `json:"remotePodName"`
	RemoteOther        string `json:"remoteOther"`
	Packets            uint64 `json:"packets"`
	Bytes              uint64 `json:"bytes"`
	// Annotations are what enrichers added ("<plugin>/<name>" to value),
	// shown in the last column as key=value pairs, sorted, joined by "; ".
	Annotations map[string]string `json:"annotations"`

	addr netip.Addr // IP parsed, for sorting; invalid when IP does not parse
}

func (e *edge) isEdge() bool { return e.Type == "" || e.Type == "normal" }

func (e *edge) key() [7]string {
	return [7]string{e.Node, e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, strconv.Itoa(e.Port)}
}

// remote names the remote end as an enricher described it.
func (e *edge) remote() string {
	switch e.RemoteKind {
	case "pod":
		return qualified(e.RemotePodNamespace, e.RemotePodName)
	case "svc":
		return qualified(e.RemoteSvcNamespace, e.RemoteSvcName)
	}
	return e.RemoteOther
}

// annotations writes the annotations as key=value pairs sorted by key,
// joined by "; ".
func (e *edge) annotations() string {
	keys := slices.Sorted(maps.Keys(e.Annotations))
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + e.Annotations[k]
	}
	return strings.Join(pairs, "; ")
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

type formatter struct{}

func (formatter) Manifest() abi.Manifest {
	return abi.Manifest{
		Name:        "csv",
		MediaType:   "text/csv",
		Description: "network-graph edges as CSV, one row per edge",
	}
}

func (formatter) Format(_ context.Context, req abi.Request) ([]byte, string, error) {
	withHeader := true
	for k, v := range req.Parameters {
		switch k {
		case "header":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, "", fmt.Errorf("csv: parameter header=%q: want true or false", v)
			}
			withHeader = b
		default:
			return nil, "", fmt.Errorf("csv: unknown parameter %q: the only parameter is header=true|false", k)
		}
	}
	return render(req.Batch, withHeader)
}

// render writes the unique edges of batch, sorted, as CSV; warn and err
// events are left out. Edges merged into one keep the annotations of the
// first for a key both have.
func render(batch []byte, withHeader bool) ([]byte, string, error) {
	var events []edge
	if err := json.Unmarshal(batch, &events); err != nil {
		return nil, "", fmt.Errorf("csv: the batch is not a JSON array of network-graph events: %w", err)
	}
	edges := unique(events)
	for _, e := range edges {
		e.addr, _ = netip.ParseAddr(e.IP)
	}
	slices.SortFunc(edges, compareEdges)

	var buf bytes.Buffer
	buf.Grow(len(edges) * 80)
	w := csv.NewWriter(&buf)
	if withHeader {
		_ = w.Write(header)
	}
	row := make([]string, len(header))
	for _, e := range edges {
		row[0], row[1], row[2], row[3], row[4], row[5] = e.Node, e.Namespace, e.Pod, e.PktType, e.Proto, e.IP
		row[6] = strconv.Itoa(e.Port)
		row[7], row[8] = e.RemoteKind, e.remote()
		row[9] = strconv.FormatUint(e.Packets, 10)
		row[10] = strconv.FormatUint(e.Bytes, 10)
		row[11] = e.annotations()
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, "", fmt.Errorf("csv: %w", err)
	}
	return buf.Bytes(), "text/csv", nil
}

// unique keeps the edges of events, merging those of the same key by
// adding their counters, like types.Unique.
func unique(events []edge) []*edge {
	out := make([]*edge, 0, len(events))
	index := make(map[[7]string]*edge, len(events))
	for i := range events {
		e := &events[i]
		if !e.isEdge() {
			continue
		}
		k := e.key()
		if m, ok := index[k]; ok {
			m.Packets += e.Packets
			m.Bytes += e.Bytes
			for k, v := range e.Annotations {
				if _, ok := m.Annotations[k]; !ok {
					if m.Annotations == nil {
						m.Annotations = map[string]string{}
					}
					m.Annotations[k] = v
				}
			}
			continue
		}
		index[k] = e
		out = append(out, e)
	}
	return out
}

// compareEdges orders edges like gadget's built-in formatters: by node,
// namespace, pod, direction, protocol, remote address (numerically) and
// port.
func compareEdges(a, b *edge) int {
	// Not cmp.Or: it would evaluate every comparison.
	for _, c := range [...][2]string{{a.Node, b.Node}, {a.Namespace, b.Namespace}, {a.Pod, b.Pod}, {a.PktType, b.PktType}, {a.Proto, b.Proto}} {
		if c[0] != c[1] {
			return cmp.Compare(c[0], c[1])
		}
	}
	if c := compareIP(a, b); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}

// compareIP orders parseable addresses numerically, before anything that
// does not parse, which is ordered as text.
func compareIP(a, b *edge) int {
	va, vb := a.addr.IsValid(), b.addr.IsValid()
	switch {
	case va && vb:
		return a.addr.Compare(b.addr)
	case va:
		return -1
	case vb:
		return 1
	}
	return cmp.Compare(a.IP, b.IP)
}
