package networkgraph

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// trafficRecorder is a gadget.Metrics that keeps every Add with its
// labels; traffic says whether traffic metrics are on.
type trafficRecorder struct {
	traffic bool
	adds    []string
}

func (r *trafficRecorder) Set(string, float64, ...string) {}
func (r *trafficRecorder) Add(name string, v float64, labels ...string) {
	r.adds = append(r.adds, name+"{"+strings.Join(labels, ",")+"} "+strconv.FormatFloat(v, 'f', -1, 64))
}
func (r *trafficRecorder) Traffic() bool { return r.traffic }

func TestCountTraffic(t *testing.T) {
	edge := func(pod, ns, pktType, proto string, port int, mutate func(*types.Event)) types.Event {
		e := types.Event{Event: eventtypes.Event{Type: eventtypes.NORMAL, Pod: pod, Namespace: ns},
			PktType: pktType, Proto: proto, Port: port, IP: "10.0.0.9", RemoteKind: types.RemoteKindOther,
			Packets: 3, Bytes: 300}
		if mutate != nil {
			mutate(&e)
		}
		return e
	}
	batch := []types.Event{
		edge("client", "", types.PktTypeOutgoing, "tcp", 8080, func(e *types.Event) {
			e.RemoteKind, e.RemotePodName = types.RemoteKindPod, "server"
		}),
		edge("server", "demo", types.PktTypeHost, "tcp", 8080, func(e *types.Event) {
			e.RemoteKind, e.RemotePodNamespace, e.RemotePodName = types.RemoteKindPod, "demo", "client"
		}),
		edge("api", "demo", types.PktTypeOutgoing, "tcp", 443, func(e *types.Event) { e.RemoteName = "example.com" }),
		edge("api", "demo", types.PktTypeOutgoing, "udp", 53, func(e *types.Event) {
			e.RemoteKind, e.RemoteSvcNamespace, e.RemoteSvcName = types.RemoteKindSvc, "kube-system", "kube-dns"
		}),
		edge("api", "demo", types.PktTypeOutgoing, "udp", 123, nil),
		edge("api", "demo", types.PktTypeOutgoing, "udp", 5000, func(e *types.Event) { e.Packets, e.Bytes = 0, 0 }),
		{Event: eventtypes.Warn("n", "network-graph: 3 packets not recorded")},
	}
	r := &trafficRecorder{traffic: true}
	countTraffic(r, batch)
	want := []string{
		"gadget_network_graph_packets_total{client,,server,tcp,8080,outgoing} 3",
		"gadget_network_graph_bytes_total{client,,server,tcp,8080,outgoing} 300",
		"gadget_network_graph_packets_total{server,demo,demo/client,tcp,8080,incoming} 3",
		"gadget_network_graph_bytes_total{server,demo,demo/client,tcp,8080,incoming} 300",
		"gadget_network_graph_packets_total{api,demo,example.com,tcp,443,outgoing} 3",
		"gadget_network_graph_bytes_total{api,demo,example.com,tcp,443,outgoing} 300",
		"gadget_network_graph_packets_total{api,demo,svc/kube-system/kube-dns,udp,53,outgoing} 3",
		"gadget_network_graph_bytes_total{api,demo,svc/kube-system/kube-dns,udp,53,outgoing} 300",
		"gadget_network_graph_packets_total{api,demo,10.0.0.9,udp,123,outgoing} 3",
		"gadget_network_graph_bytes_total{api,demo,10.0.0.9,udp,123,outgoing} 300",
	}
	if !slices.Equal(r.adds, want) {
		t.Errorf("counted:\n%s\nwant:\n%s", strings.Join(r.adds, "\n"), strings.Join(want, "\n"))
	}
	off := &trafficRecorder{}
	countTraffic(off, batch)
	if len(off.adds) != 0 {
		t.Errorf("traffic metrics off, yet counted %v", off.adds)
	}
	// Every declared metric is valid and labelled as counted.
	info := Info()
	if err := info.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, m := range info.Metrics {
		if m.Traffic && !slices.Equal(m.Labels, trafficLabels) {
			t.Errorf("%s: labels %v, want %v", m.Name, m.Labels, trafficLabels)
		}
	}
}
