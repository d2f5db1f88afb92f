package networkgraph

import (
	"reflect"
	"testing"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/kubemeta"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// cluster is a ClusterLookup over fixed maps.
type cluster struct {
	pods     map[string]kubemeta.Pod // by namespace/name
	podIPs   map[string]string       // IP → namespace/name
	services map[string]kubemeta.Service
	nodes    map[string]kubemeta.Node
}

func (c cluster) PodByName(ns, name string) (kubemeta.Pod, bool) {
	p, ok := c.pods[ns+"/"+name]
	return p, ok
}

func (c cluster) PodByIP(ip string) (kubemeta.Pod, bool) {
	key, ok := c.podIPs[ip]
	if !ok {
		return kubemeta.Pod{}, false
	}
	return c.pods[key], true
}

func (c cluster) ServiceByIP(ip string) (kubemeta.Service, bool) {
	s, ok := c.services[ip]
	return s, ok
}

func (c cluster) NodeByIP(ip string) (kubemeta.Node, bool) {
	n, ok := c.nodes[ip]
	return n, ok
}

func TestKubeEnricher(t *testing.T) {
	c := cluster{
		pods: map[string]kubemeta.Pod{
			"shop/web-1": {Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web"}, IPs: []string{"10.244.1.2", "fd00::2"}, HostIP: "192.168.0.10", Owner: "Deployment/web"},
			"shop/api-1": {Namespace: "shop", Name: "api-1", Labels: map[string]string{"app": "api"}, IPs: []string{"10.244.1.3"}},
		},
		podIPs:   map[string]string{"10.244.1.2": "shop/web-1", "10.244.1.3": "shop/api-1"},
		services: map[string]kubemeta.Service{"10.96.0.10": {Namespace: "kube-system", Name: "kube-dns", Selector: map[string]string{"k8s-app": "kube-dns"}}},
		nodes:    map[string]kubemeta.Node{"192.168.0.11": {Name: "worker-2"}},
	}
	base := types.Event{Event: eventtypes.Event{Type: eventtypes.NORMAL, Namespace: "shop", Pod: "web-1"}, PktType: "OUTGOING", Proto: "tcp", Port: 80}
	local := types.Event{PodIP: "10.244.1.2", PodHostIP: "192.168.0.10", PodOwner: "Deployment/web", PodLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name string
		ip   string
		want types.Event
	}{
		{"service", "10.96.0.10", types.Event{RemoteKind: "svc", RemoteSvcNamespace: "kube-system", RemoteSvcName: "kube-dns", RemoteSvcLabelSelector: map[string]string{"k8s-app": "kube-dns"}}},
		{"pod", "10.244.1.3", types.Event{RemoteKind: "pod", RemotePodNamespace: "shop", RemotePodName: "api-1", RemotePodLabels: map[string]string{"app": "api"}}},
		{"node", "192.168.0.11", types.Event{RemoteKind: "other", RemoteOther: "worker-2"}},
		{"outside", "203.0.113.5", types.Event{RemoteKind: "other", RemoteOther: "203.0.113.5"}},
		{"ipv6 picks the pod's IPv6 address", "2001:db8::1", types.Event{RemoteKind: "other", RemoteOther: "2001:db8::1", PodIP: "fd00::2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			e.IP = tt.ip
			// A previous (local) classification is replaced.
			e.RemoteKind, e.RemoteOther = "other", "stale"
			events := []types.Event{e, {Event: eventtypes.Warn("n", "dropped")}}
			KubeEnricher{Cluster: c}.Enrich(events)

			want := base
			want.IP = tt.ip
			want.PodIP, want.PodHostIP, want.PodOwner, want.PodLabels = local.PodIP, local.PodHostIP, local.PodOwner, local.PodLabels
			if tt.want.PodIP != "" {
				want.PodIP = tt.want.PodIP
			}
			want.RemoteKind, want.RemoteOther = tt.want.RemoteKind, tt.want.RemoteOther
			want.RemotePodNamespace, want.RemotePodName, want.RemotePodLabels = tt.want.RemotePodNamespace, tt.want.RemotePodName, tt.want.RemotePodLabels
			want.RemoteSvcNamespace, want.RemoteSvcName, want.RemoteSvcLabelSelector = tt.want.RemoteSvcNamespace, tt.want.RemoteSvcName, tt.want.RemoteSvcLabelSelector
			if !reflect.DeepEqual(events[0], want) {
				t.Errorf("enriched\n got %+v\nwant %+v", events[0], want)
			}
			if events[1].RemoteKind != "" || events[1].PodIP != "" {
				t.Errorf("warn event was enriched: %+v", events[1])
			}
		})
	}
}

func TestKubeEnricherUnknownPod(t *testing.T) {
	events := []types.Event{{Event: eventtypes.Event{Type: eventtypes.NORMAL, Namespace: "x", Pod: "gone"}, PktType: "HOST", Proto: "udp", IP: "10.0.0.1", Port: 53}}
	KubeEnricher{Cluster: cluster{}}.Enrich(events)
	if e := events[0]; e.PodIP != "" || e.PodLabels != nil || e.RemoteKind != "other" || e.RemoteOther != "10.0.0.1" {
		t.Errorf("edge of an unknown pod = %+v, want only remoteKind other", e)
	}
}

// TestDeclaredEnrichment checks that the gadget declares its Kubernetes
// enrichment, which the agent finds with kubemeta.EnrichmentOf, and that
// it enriches a batch of edges in place and leaves other batches alone.
func TestDeclaredEnrichment(t *testing.T) {
	enrichment, ok := kubemeta.EnrichmentOf(Info())
	if !ok {
		t.Fatal("network-graph declares no kubemeta.Enrichment")
	}
	c := cluster{services: map[string]kubemeta.Service{"10.96.0.10": {Namespace: "kube-system", Name: "kube-dns"}}}
	batch := []types.Event{{PktType: "OUTGOING", Proto: "udp", IP: "10.96.0.10", Port: 53}}
	enrichment.Enrich(c, batch)
	if batch[0].RemoteKind != types.RemoteKindSvc || batch[0].RemoteSvcName != "kube-dns" {
		t.Errorf("edge after enrichment: %+v, want the kube-dns Service", batch[0])
	}
	enrichment.Enrich(c, "not a batch of edges") // must not panic
}
