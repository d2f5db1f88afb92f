package networkgraph

import (
	"maps"
	"net/netip"

	"github.com/gadgetkit/gadget/framework/kubemeta"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// ClusterLookup is what KubeEnricher asks of the cluster; *kubemeta.Index
// implements it from informer caches.
type ClusterLookup = kubemeta.Lookup

// KubeEnricher fills the Kubernetes fields of network-graph edges: the
// watched pod's podIP, podHostIP, podOwner and podLabels, and the remote
// end's kind — "svc" with remoteService* when the address is a Service's
// (ClusterIP, external or load balancer IP), "pod" with remotePod* when it
// is a pod's, "other" with remoteOther otherwise (the node's name when it
// is a node's address, else the address itself). It reads caches only, so
// it costs a few map lookups per edge.
type KubeEnricher struct {
	Cluster ClusterLookup
}

// Enrich enriches the edges of events in place; warn and err events are
// left alone. A remote end classified before (e.g. by the local enricher)
// is classified again from the cluster, which knows better.
func (k KubeEnricher) Enrich(events []types.Event) {
	for i := range events {
		e := &events[i]
		if !e.IsEdge() {
			continue
		}
		if p, ok := k.Cluster.PodByName(e.Namespace, e.Pod); ok {
			e.PodLabels = maps.Clone(p.Labels)
			e.PodOwner = p.Owner
			e.PodHostIP = p.HostIP
			e.PodIP = sameFamily(p.IPs, e.IP)
		}
		k.classify(e)
	}
}

// classify fills the remote* fields of e from its IP.
func (k KubeEnricher) classify(e *types.Event) {
	e.RemoteKind, e.RemoteOther = "", ""
	e.RemotePodNamespace, e.RemotePodName, e.RemotePodLabels = "", "", nil
	e.RemoteSvcNamespace, e.RemoteSvcName, e.RemoteSvcLabelSelector = "", "", nil
	if s, ok := k.Cluster.ServiceByIP(e.IP); ok {
		e.RemoteKind = types.RemoteKindSvc
		e.RemoteSvcNamespace, e.RemoteSvcName = s.Namespace, s.Name
		e.RemoteSvcLabelSelector = maps.Clone(s.Selector)
		return
	}
	if p, ok := k.Cluster.PodByIP(e.IP); ok {
		e.RemoteKind = types.RemoteKindPod
		e.RemotePodNamespace, e.RemotePodName = p.Namespace, p.Name
		e.RemotePodLabels = maps.Clone(p.Labels)
		return
	}
	e.RemoteKind = types.RemoteKindOther
	if n, ok := k.Cluster.NodeByIP(e.IP); ok {
		e.RemoteOther = n.Name
		return
	}
	e.RemoteOther = e.IP
}

// sameFamily returns the address of ips of the same family as ip (IPv4 or
// IPv6), else the first one.
func sameFamily(ips []string, ip string) string {
	if len(ips) == 0 {
		return ""
	}
	want, err := netip.ParseAddr(ip)
	if err == nil {
		for _, s := range ips {
			if a, err := netip.ParseAddr(s); err == nil && a.Unmap().Is4() == want.Unmap().Is4() {
				return s
			}
		}
	}
	return ips[0]
}
