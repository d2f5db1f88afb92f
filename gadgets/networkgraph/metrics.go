package networkgraph

import (
	"strconv"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// The metrics network-graph reports through gadget.Config.Metrics.
const (
	metricMapEdges           = "gadget_network_graph_map_edges"
	metricMapCapacity        = "gadget_network_graph_map_capacity"
	metricPacketsNotRecorded = "gadget_network_graph_packets_not_recorded_total"
	metricFlowsNotRemembered = "gadget_network_graph_flows_not_remembered_total"
	metricConnsNotFollowed   = "gadget_network_graph_connections_not_followed_total"
	metricAttachMode         = "gadget_network_graph_attach_mode"
	metricTrafficPackets     = "gadget_network_graph_packets_total"
	metricTrafficBytes       = "gadget_network_graph_bytes_total"
)

// trafficLabels are the labels of the per-edge traffic counters.
var trafficLabels = []string{"pod", "namespace", "remote", "protocol", "port", "direction"}

// metrics are the metrics network-graph declares.
func metrics() []gadget.Metric {
	return []gadget.Metric{
		{Name: metricMapEdges, Kind: gadget.MetricGauge,
			Help: "Edges in the trace's kernel map at its last drain (the map is full at gadget_network_graph_map_capacity)."},
		{Name: metricMapCapacity, Kind: gadget.MetricGauge,
			Help: "Capacity of the trace's kernel edge map (parameter max-edges)."},
		{Name: metricPacketsNotRecorded, Kind: gadget.MetricCounter,
			Help: "Packets not recorded because the kernel edge map was full; raise the max-edges parameter."},
		{Name: metricFlowsNotRemembered, Kind: gadget.MetricCounter,
			Help: "Flows (TCP connections, UDP streams) whose direction the kernel could not remember because its flow map was full."},
		{Name: metricConnsNotFollowed, Kind: gadget.MetricCounter,
			Help: "TCP connections attach=socket could not record at their socket (the kernel refused the socket storage: memory, or net.core.optmem_max); each is counted whole at its close."},
		{Name: metricAttachMode, Kind: gadget.MetricGauge, Labels: []string{"mode"},
			Help: "1 for the attach mode the trace runs (socket, tcx or packet): the one asked for, or what it fell back to."},
		{Name: metricTrafficPackets, Kind: gadget.MetricCounter, Labels: trafficLabels, Traffic: true,
			Help: "Packets per edge, both directions of the flow; direction is outgoing (pktType OUTGOING) or incoming (HOST)."},
		{Name: metricTrafficBytes, Kind: gadget.MetricCounter, Labels: trafficLabels, Traffic: true,
			Help: "Bytes per edge, both directions of the flow; direction is outgoing (pktType OUTGOING) or incoming (HOST)."},
	}
}

// countTraffic adds the counters of the edges of batch to the per-edge
// traffic metrics, when they are kept.
func countTraffic(m gadget.Metrics, batch []types.Event) {
	if !m.Traffic() {
		return
	}
	for i := range batch {
		e := &batch[i]
		if e.Type != eventtypes.NORMAL {
			continue // a warning, not an edge
		}
		if e.Packets == 0 && e.Bytes == 0 {
			continue
		}
		direction := "incoming"
		if e.PktType == types.PktTypeOutgoing {
			direction = "outgoing"
		}
		labels := []string{e.Pod, e.Namespace, remoteLabel(e), e.Proto, strconv.Itoa(e.Port), direction}
		m.Add(metricTrafficPackets, float64(e.Packets), labels...)
		m.Add(metricTrafficBytes, float64(e.Bytes), labels...)
	}
}

// remoteLabel names the remote end of an edge: the pod or service it
// is, the DNS name the pod resolved to it, or its address.
func remoteLabel(e *types.Event) string {
	switch {
	case e.RemoteKind == types.RemoteKindPod && e.RemotePodName != "":
		if e.RemotePodNamespace != "" {
			return e.RemotePodNamespace + "/" + e.RemotePodName
		}
		return e.RemotePodName
	case e.RemoteKind == types.RemoteKindSvc && e.RemoteSvcName != "":
		return "svc/" + e.RemoteSvcNamespace + "/" + e.RemoteSvcName
	case e.RemoteName != "":
		return e.RemoteName
	}
	return e.IP
}
