package advise_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/advise"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

var web = map[string]string{"app": "web", "pod-template-hash": "7d9"}

// out is an OUTGOING edge of pod shop/web-1.
func out(proto, ip string, port int) types.Event {
	return edge("shop", "web-1", web, types.PktTypeOutgoing, proto, ip, port)
}

// in is a HOST edge of pod shop/web-1.
func in(proto, ip string, port int) types.Event {
	return edge("shop", "web-1", web, types.PktTypeHost, proto, ip, port)
}

func withName(e types.Event, name string, stale bool) types.Event {
	e.RemoteName, e.RemoteNameStale = name, stale
	return e
}

func tcp(port string) []advise.CiliumPortRule {
	return []advise.CiliumPortRule{{Ports: []advise.CiliumPort{{Port: port, Protocol: "TCP"}}}}
}

func sel(labels ...string) []advise.CiliumSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		m[labels[i]] = labels[i+1]
	}
	return []advise.CiliumSelector{{MatchLabels: m}}
}

// dnsRule is the rule every policy with toFQDNs has.
var dnsRule = advise.CiliumEgressRule{
	ToEndpoints: sel(advise.CiliumNamespaceLabel, "kube-system", "k8s:k8s-app", "kube-dns"),
	ToPorts: []advise.CiliumPortRule{{
		Ports: []advise.CiliumPort{{Port: "53", Protocol: "ANY"}},
		Rules: &advise.CiliumL7Rules{DNS: []advise.CiliumFQDN{{MatchPattern: "*"}}},
	}},
}

// ciliumCases are edges of one workload, web in namespace shop, and the
// rules they must give. Each case is also applied to a real API server
// with the Cilium CRD (TestAPIServerAcceptsCilium).
var ciliumCases = []struct {
	name    string
	events  []types.Event
	egress  []advise.CiliumEgressRule
	ingress []advise.CiliumIngressRule
	// yaml are lines the YAML must hold, comments included.
	yaml    []string
	skipped []string
}{
	{
		name:    "pod peer",
		events:  []types.Event{toPod(out("tcp", "10.0.1.7", 5432), "data", "db-0", map[string]string{"app": "db", "controller-revision-hash": "x"})},
		egress:  []advise.CiliumEgressRule{{ToEndpoints: sel("app", "db", advise.CiliumNamespaceLabel, "data"), ToPorts: tcp("5432")}},
		ingress: []advise.CiliumIngressRule{{}},
		yaml:    []string{"  ingress:\n  - {}\n"},
	},
	{
		name: "service peers",
		events: []types.Event{
			toSvc(out("tcp", "10.96.0.20", 80), "", "api", map[string]string{"app": "api"}),
			toSvc(out("tcp", "10.96.0.30", 5432), "shop", "external-db", nil),
		},
		egress: []advise.CiliumEgressRule{
			{ToEndpoints: sel("app", "api", advise.CiliumNamespaceLabel, "shop"), ToPorts: tcp("80")},
			{ToServices: []advise.CiliumService{{K8sService: &advise.CiliumServiceRef{ServiceName: "external-db", Namespace: "shop"}}}, ToPorts: tcp("5432")},
		},
		ingress: []advise.CiliumIngressRule{{}},
	},
	{
		name: "named external peer, IPv4 and IPv6 merged",
		events: []types.Event{
			withName(toOther(out("tcp", "93.184.215.14", 443), "93.184.215.14"), "example.com", false),
			withName(out("tcp", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443), "example.com", false),
			withName(out("tcp", "93.184.215.14", 80), "example.com", false),
		},
		egress: []advise.CiliumEgressRule{dnsRule, {
			ToFQDNs: []advise.CiliumFQDN{{MatchName: "example.com"}},
			ToPorts: []advise.CiliumPortRule{{Ports: []advise.CiliumPort{{Port: "80", Protocol: "TCP"}, {Port: "443", Protocol: "TCP"}}}},
		}},
		ingress: []advise.CiliumIngressRule{{}},
		yaml:    []string{"    - matchName: example.com\n", "        - matchPattern: '*'\n"},
	},
	{
		name:    "stale name",
		events:  []types.Event{withName(out("tcp", "203.0.113.7", 8443), "old.example.net", true)},
		egress:  []advise.CiliumEgressRule{dnsRule, {ToFQDNs: []advise.CiliumFQDN{{MatchName: "old.example.net"}}, ToPorts: tcp("8443")}},
		ingress: []advise.CiliumIngressRule{{}},
		yaml:    []string{"    - matchName: old.example.net # stale: "},
	},
	{
		name: "stale and fresh: fresh wins",
		events: []types.Event{
			withName(out("tcp", "203.0.113.7", 443), "a.example.net", true),
			withName(out("tcp", "203.0.113.8", 443), "a.example.net", false),
		},
		egress:  []advise.CiliumEgressRule{dnsRule, {ToFQDNs: []advise.CiliumFQDN{{MatchName: "a.example.net"}}, ToPorts: tcp("443")}},
		ingress: []advise.CiliumIngressRule{{}},
		yaml:    []string{"    - matchName: a.example.net\n"},
	},
	{
		name: "unnamed external peers, IPv4 and IPv6",
		events: []types.Event{
			out("udp", "198.51.100.9", 123),
			toOther(out("tcp", "::ffff:198.51.100.10", 443), "198.51.100.10"),
			out("tcp", "2001:db8::5", 443),
		},
		egress: []advise.CiliumEgressRule{
			{ToCIDR: []string{"198.51.100.10/32"}, ToPorts: tcp("443")},
			{ToCIDR: []string{"198.51.100.9/32"}, ToPorts: []advise.CiliumPortRule{{Ports: []advise.CiliumPort{{Port: "123", Protocol: "UDP"}}}}},
			{ToCIDR: []string{"2001:db8::5/128"}, ToPorts: tcp("443")},
		},
		ingress: []advise.CiliumIngressRule{{}},
	},
	{
		name:    "name Cilium would reject becomes a CIDR with a comment",
		events:  []types.Event{withName(out("tcp", "198.51.100.11", 443), "bad name", false)},
		egress:  []advise.CiliumEgressRule{{ToCIDR: []string{"198.51.100.11/32"}, ToPorts: tcp("443")}},
		ingress: []advise.CiliumIngressRule{{}},
		yaml:    []string{"    - 198.51.100.11/32 # bad name\n"},
	},
	{
		name: "ingress",
		events: []types.Event{
			toPod(in("tcp", "10.244.2.8", 8080), "ingress", "nginx-1", map[string]string{"app": "nginx"}),
			withName(in("tcp", "2001:db8::7", 8080), "monitor.example.org", false),
			in("tcp", "192.168.0.10", 8080), // the node: kubelet probes
		},
		egress: []advise.CiliumEgressRule{{}},
		ingress: []advise.CiliumIngressRule{
			{FromCIDR: []string{"2001:db8::7/128"}, ToPorts: tcp("8080")},
			{FromEndpoints: sel("app", "nginx", advise.CiliumNamespaceLabel, "ingress"), ToPorts: tcp("8080")},
		},
		yaml: []string{"    - 2001:db8::7/128 # monitor.example.org\n", "  egress:\n  - {}\n"},
	},
	{
		name: "skipped edges",
		events: []types.Event{
			toPod(out("tcp", "10.0.1.8", 80), "data", "bare-0", nil),
			out("icmp", "198.51.100.9", 0),
			out("tcp", "198.51.100.9", 443),
		},
		egress:  []advise.CiliumEgressRule{{ToCIDR: []string{"198.51.100.9/32"}, ToPorts: tcp("443")}},
		ingress: []advise.CiliumIngressRule{{}},
		skipped: []string{
			"edge shop/web-1 OUTGOING icmp 198.51.100.9:0: protocol \"icmp\" is neither tcp nor udp",
			"edge shop/web-1 OUTGOING tcp 10.0.1.8:80: remote pod data/bare-0 has no labels to select it by",
		},
	},
}

func TestAdviseCilium(t *testing.T) {
	for _, tc := range ciliumCases {
		t.Run(tc.name, func(t *testing.T) {
			res := advise.AdviseCilium(tc.events)
			if !reflect.DeepEqual(res.Skipped, tc.skipped) {
				t.Errorf("skipped = %q, want %q", res.Skipped, tc.skipped)
			}
			if len(res.Policies) != 1 {
				t.Fatalf("%d policies, want 1: %+v", len(res.Policies), res.Policies)
			}
			p := res.Policies[0]
			if p.APIVersion != "cilium.io/v2" || p.Kind != "CiliumNetworkPolicy" ||
				p.Metadata != (advise.CiliumMetadata{Name: "web-network", Namespace: "shop"}) {
				t.Errorf("header = %s %s %+v", p.APIVersion, p.Kind, p.Metadata)
			}
			if want := map[string]string{"app": "web"}; !reflect.DeepEqual(p.Spec.EndpointSelector.MatchLabels, want) {
				t.Errorf("endpointSelector = %v, want %v", p.Spec.EndpointSelector.MatchLabels, want)
			}
			if !reflect.DeepEqual(p.Spec.Egress, tc.egress) {
				t.Errorf("egress:\n%s\nwant:\n%s", js(p.Spec.Egress), js(tc.egress))
			}
			if !reflect.DeepEqual(p.Spec.Ingress, tc.ingress) {
				t.Errorf("ingress:\n%s\nwant:\n%s", js(p.Spec.Ingress), js(tc.ingress))
			}
			y, err := res.YAML()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.yaml {
				if !strings.Contains(string(y), want) {
					t.Errorf("YAML lacks %q:\n%s", want, y)
				}
			}
			if n := strings.Count(string(y), "# stale:"); n != len(res.StaleNames) {
				t.Errorf("%d stale comments for stale names %q:\n%s", n, res.StaleNames, y)
			}
		})
	}
}

// TestAdviseCiliumGroups checks that pods of one workload share a policy
// and that workloads in different namespaces get one each.
func TestAdviseCiliumGroups(t *testing.T) {
	a := edge("shop", "web-1", web, types.PktTypeOutgoing, "tcp", "198.51.100.9", 443)
	b := edge("shop", "web-2", map[string]string{"app": "web", "pod-template-hash": "other"}, types.PktTypeOutgoing, "tcp", "198.51.100.9", 80)
	c := edge("test", "web-1", web, types.PktTypeOutgoing, "tcp", "198.51.100.9", 443)
	res := advise.AdviseCilium([]types.Event{a, b, c})
	if len(res.Policies) != 2 {
		t.Fatalf("%d policies, want 2", len(res.Policies))
	}
	if got := res.Policies[0].Spec.Egress[0].ToPorts[0].Ports; len(got) != 2 {
		t.Errorf("shop/web ports = %v, want 80 and 443 merged", got)
	}
	if res.Policies[1].Metadata.Namespace != "test" {
		t.Errorf("second policy in %q, want test", res.Policies[1].Metadata.Namespace)
	}
	y, err := advise.AdviseCilium(nil).YAML()
	if err != nil || !strings.Contains(string(y), "# no policy") || strings.Contains(string(y), "---") {
		t.Errorf("empty advice = %q, %v; want a comment only", y, err)
	}
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
