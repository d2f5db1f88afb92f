package advise

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// CiliumNamespaceLabel is the label by which Cilium selects the pods of a
// namespace in toEndpoints and fromEndpoints.
const CiliumNamespaceLabel = "k8s:io.kubernetes.pod.namespace"

// fqdnName is the pattern the CiliumNetworkPolicy CRD sets on
// toFQDNs[].matchName; a name that does not match gets a CIDR rule.
var fqdnName = regexp.MustCompile(`^([-a-zA-Z0-9_]+[.]?)+$`)

// CiliumNetworkPolicy is a cilium.io/v2 CiliumNetworkPolicy, with the
// fields the advice uses.
type CiliumNetworkPolicy struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   CiliumMetadata   `json:"metadata"`
	Spec       CiliumPolicySpec `json:"spec"`
}

// CiliumMetadata is the policy's object name and namespace.
type CiliumMetadata struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// CiliumPolicySpec selects the workload and lists its rules. A direction
// without traffic has one empty rule: it puts the workload in default deny
// that way, and allows nothing.
type CiliumPolicySpec struct {
	EndpointSelector CiliumSelector      `json:"endpointSelector"`
	Ingress          []CiliumIngressRule `json:"ingress,omitempty"`
	Egress           []CiliumEgressRule  `json:"egress,omitempty"`
}

// CiliumSelector is a label selector of endpoints.
type CiliumSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// CiliumIngressRule allows traffic from one peer to the listed ports.
type CiliumIngressRule struct {
	FromEndpoints []CiliumSelector `json:"fromEndpoints,omitempty"`
	FromCIDR      []string         `json:"fromCIDR,omitempty"`
	ToPorts       []CiliumPortRule `json:"toPorts,omitempty"`
}

// CiliumEgressRule allows traffic to one peer on the listed ports.
type CiliumEgressRule struct {
	ToEndpoints []CiliumSelector `json:"toEndpoints,omitempty"`
	ToServices  []CiliumService  `json:"toServices,omitempty"`
	ToCIDR      []string         `json:"toCIDR,omitempty"`
	ToFQDNs     []CiliumFQDN     `json:"toFQDNs,omitempty"`
	ToPorts     []CiliumPortRule `json:"toPorts,omitempty"`
}

// CiliumService names a Kubernetes Service.
type CiliumService struct {
	K8sService *CiliumServiceRef `json:"k8sService,omitempty"`
}

// CiliumServiceRef is a Service's namespace and name.
type CiliumServiceRef struct {
	ServiceName string `json:"serviceName"`
	Namespace   string `json:"namespace,omitempty"`
}

// CiliumFQDN matches a DNS name exactly (MatchName) or by pattern.
type CiliumFQDN struct {
	MatchName    string `json:"matchName,omitempty"`
	MatchPattern string `json:"matchPattern,omitempty"`
}

// CiliumPortRule lists ports, and for the DNS rule the names the DNS proxy
// lets through.
type CiliumPortRule struct {
	Ports []CiliumPort   `json:"ports"`
	Rules *CiliumL7Rules `json:"rules,omitempty"`
}

// CiliumPort is a port number and protocol (TCP, UDP or ANY).
type CiliumPort struct {
	Port     string `json:"port"`
	Protocol string `json:"protocol"`
}

// CiliumL7Rules are the layer 7 rules of a port rule; only DNS is used.
type CiliumL7Rules struct {
	DNS []CiliumFQDN `json:"dns,omitempty"`
}

// CiliumResult is the Cilium advice for one graph.
type CiliumResult struct {
	// Policies are the CiliumNetworkPolicies, sorted by namespace and name.
	Policies []CiliumNetworkPolicy
	// Skipped says, one line each and sorted, which edges gave no rule
	// and why.
	Skipped []string
	// PeerNames names the CIDRs of toCIDR and fromCIDR rules from the DNS
	// names of their edges, as Result.PeerNames does.
	PeerNames map[string]string
	// StaleNames are the toFQDNs names every edge of which was seen past
	// the DNS answer's TTL, sorted.
	StaleNames []string
}

// ciliumWorkload is the set of pods one Cilium policy selects.
type ciliumWorkload struct {
	namespace string
	labels    map[string]string
	owner     string
	fqdn      bool
	ingress   map[string]*ciliumRule
	egress    map[string]*ciliumRule
}

// ciliumRule is the rule for one peer: an ingress or egress rule without
// its ports, and the ports.
type ciliumRule struct {
	ingress CiliumIngressRule
	egress  CiliumEgressRule
	ports   map[string]CiliumPort
}

// AdviseCilium returns CiliumNetworkPolicies for the edges of events,
// grouped into workloads as Advise groups them, one policy each:
//
//   - a remote pod is toEndpoints/fromEndpoints by its labels and
//     CiliumNamespaceLabel; a Service with a selector the same by its
//     selector, a Service without one toServices;
//   - an address outside the cluster is toFQDNs by the DNS name the pod
//     resolved to it (Event.RemoteName), plus one rule per workload
//     allowing DNS to kube-dns through Cilium's DNS proxy, which toFQDNs
//     needs to learn the addresses; without a name it is toCIDR, and
//     fromCIDR for a HOST edge;
//   - ports are toPorts, merged per peer and sorted.
//
// It never fails: what it cannot use is in CiliumResult.Skipped.
func AdviseCilium(events []types.Event) CiliumResult {
	var res CiliumResult
	workloads := map[string]*ciliumWorkload{}
	names := peerNames{}
	fqdns := map[string]bool{} // name to whether every edge was stale
	for e, labels := range policyEdges(events, func(why string) { res.Skipped = append(res.Skipped, why) }) {
		if e.PktType != types.PktTypeHost && e.PktType != types.PktTypeOutgoing {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: unknown pktType %q", edgeName(e), e.PktType))
			continue
		}
		np, why := portOf(e)
		if why != "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s", edgeName(e), why))
			continue
		}
		port := CiliumPort{Port: strconv.Itoa(int(np.Port.IntVal)), Protocol: string(*np.Protocol)}
		key, r, why := ciliumPeer(e)
		if why != "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s", edgeName(e), why))
			continue
		}

		wk := e.Namespace + "\x00" + labelString(labels)
		w := workloads[wk]
		if w == nil {
			w = &ciliumWorkload{namespace: e.Namespace, labels: labels,
				ingress: map[string]*ciliumRule{}, egress: map[string]*ciliumRule{}}
			workloads[wk] = w
		}
		if w.owner == "" {
			w.owner = e.PodOwner
		}
		rules := w.egress
		if e.PktType == types.PktTypeHost {
			rules = w.ingress
		}
		if prev := rules[key]; prev != nil {
			r = prev
		} else {
			rules[key] = r
		}
		r.ports[port.Protocol+"/"+fmt.Sprintf("%05d", np.Port.IntVal)] = port
		switch {
		case len(r.egress.ToFQDNs) > 0:
			w.fqdn = true
			stale, seen := fqdns[e.RemoteName]
			fqdns[e.RemoteName] = e.RemoteNameStale && (!seen || stale)
		case len(r.egress.ToCIDR) > 0:
			names.add(r.egress.ToCIDR[0], e)
		case len(r.ingress.FromCIDR) > 0:
			names.add(r.ingress.FromCIDR[0], e)
		}
	}
	res.PeerNames = names.comments()
	for _, n := range slices.Sorted(maps.Keys(fqdns)) {
		if fqdns[n] {
			res.StaleNames = append(res.StaleNames, n)
		}
	}

	taken := map[string]int{}
	for _, key := range slices.Sorted(maps.Keys(workloads)) {
		w := workloads[key]
		base := policyName(&workload{labels: w.labels, owner: w.owner})
		name := base
		if n := taken[w.namespace+"/"+base]; n > 0 {
			name = fmt.Sprintf("%s-%d", base, n+1)
		}
		taken[w.namespace+"/"+base]++
		res.Policies = append(res.Policies, w.policy(name))
	}
	slices.Sort(res.Skipped)
	slices.SortFunc(res.Policies, func(a, b CiliumNetworkPolicy) int {
		return cmp.Or(cmp.Compare(a.Metadata.Namespace, b.Metadata.Namespace), cmp.Compare(a.Metadata.Name, b.Metadata.Name))
	})
	return res
}

// ciliumPeer returns the rule, without ports, for the remote end of e and
// the key that merges rules of the same peer, or why there is none.
func ciliumPeer(e types.Event) (string, *ciliumRule, string) {
	r := &ciliumRule{ports: map[string]CiliumPort{}}
	endpoints := func(ns string, labels map[string]string) (string, *ciliumRule, string) {
		if ns == "" {
			ns = e.Namespace
		}
		sel := CiliumSelector{MatchLabels: maps.Clone(labels)}
		if ns != "" {
			sel.MatchLabels[CiliumNamespaceLabel] = ns
		}
		if e.PktType == types.PktTypeHost {
			r.ingress.FromEndpoints = []CiliumSelector{sel}
		} else {
			r.egress.ToEndpoints = []CiliumSelector{sel}
		}
		return "endpoints:" + labelString(sel.MatchLabels), r, ""
	}
	switch e.RemoteKind {
	case types.RemoteKindPod:
		labels := workloadLabels(e.RemotePodLabels)
		if len(labels) == 0 {
			// Cilium's CIDR rules do not apply to the cluster's own pods.
			return "", nil, fmt.Sprintf("remote pod %s has no labels to select it by",
				qualifiedName(cmp.Or(e.RemotePodNamespace, e.Namespace), e.RemotePodName))
		}
		return endpoints(e.RemotePodNamespace, labels)
	case types.RemoteKindSvc:
		if len(e.RemoteSvcLabelSelector) > 0 {
			return endpoints(e.RemoteSvcNamespace, e.RemoteSvcLabelSelector)
		}
		if e.PktType == types.PktTypeOutgoing && e.RemoteSvcName != "" {
			// A Service without selector: Cilium follows its endpoints.
			ns := cmp.Or(e.RemoteSvcNamespace, e.Namespace)
			r.egress.ToServices = []CiliumService{{K8sService: &CiliumServiceRef{ServiceName: e.RemoteSvcName, Namespace: ns}}}
			return "service:" + qualifiedName(ns, e.RemoteSvcName), r, ""
		}
	}
	addr, err := netip.ParseAddr(e.IP)
	if err != nil {
		return "", nil, fmt.Sprintf("remote end %q is not an IP address", e.IP)
	}
	addr = addr.Unmap()
	cidr := netip.PrefixFrom(addr, addr.BitLen()).String()
	if e.PktType == types.PktTypeHost {
		r.ingress.FromCIDR = []string{cidr}
		return "cidr:" + cidr, r, ""
	}
	if e.RemoteName != "" && len(e.RemoteName) <= 255 && fqdnName.MatchString(e.RemoteName) {
		r.egress.ToFQDNs = []CiliumFQDN{{MatchName: e.RemoteName}}
		return "fqdn:" + e.RemoteName, r, ""
	}
	r.egress.ToCIDR = []string{cidr}
	return "cidr:" + cidr, r, ""
}

// dnsRuleKey sorts the DNS rule among the egress rules.
const dnsRuleKey = "dns"

// dnsRule allows DNS to kube-dns through Cilium's DNS proxy, from which
// toFQDNs rules learn the addresses of their names.
func dnsRule() CiliumEgressRule {
	return CiliumEgressRule{
		ToEndpoints: []CiliumSelector{{MatchLabels: map[string]string{
			CiliumNamespaceLabel: "kube-system",
			"k8s:k8s-app":        "kube-dns",
		}}},
		ToPorts: []CiliumPortRule{{
			Ports: []CiliumPort{{Port: "53", Protocol: "ANY"}},
			Rules: &CiliumL7Rules{DNS: []CiliumFQDN{{MatchPattern: "*"}}},
		}},
	}
}

// policy builds the workload's CiliumNetworkPolicy called name.
func (w *ciliumWorkload) policy(name string) CiliumNetworkPolicy {
	p := CiliumNetworkPolicy{
		APIVersion: "cilium.io/v2",
		Kind:       "CiliumNetworkPolicy",
		Metadata:   CiliumMetadata{Name: name, Namespace: w.namespace},
		Spec:       CiliumPolicySpec{EndpointSelector: CiliumSelector{MatchLabels: maps.Clone(w.labels)}},
	}
	egress := map[string]CiliumEgressRule{}
	for k, r := range w.egress {
		rule := r.egress
		rule.ToPorts = []CiliumPortRule{{Ports: sortedCiliumPorts(r.ports)}}
		egress[k] = rule
	}
	if w.fqdn {
		egress[dnsRuleKey] = dnsRule()
	}
	for _, k := range slices.Sorted(maps.Keys(egress)) {
		p.Spec.Egress = append(p.Spec.Egress, egress[k])
	}
	for _, k := range slices.Sorted(maps.Keys(w.ingress)) {
		r := w.ingress[k]
		rule := r.ingress
		rule.ToPorts = []CiliumPortRule{{Ports: sortedCiliumPorts(r.ports)}}
		p.Spec.Ingress = append(p.Spec.Ingress, rule)
	}
	// One empty rule puts a direction without traffic in default deny.
	if len(p.Spec.Ingress) == 0 {
		p.Spec.Ingress = []CiliumIngressRule{{}}
	}
	if len(p.Spec.Egress) == 0 {
		p.Spec.Egress = []CiliumEgressRule{{}}
	}
	return p
}

func sortedCiliumPorts(ports map[string]CiliumPort) []CiliumPort {
	out := make([]CiliumPort, 0, len(ports))
	for _, k := range slices.Sorted(maps.Keys(ports)) {
		out = append(out, ports[k])
	}
	return out
}

func qualifiedName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// staleComment is written beside a toFQDNs name every edge of which was
// seen after the DNS answer's TTL had run out.
const staleComment = "stale: the pod used this address after the DNS answer expired; check that the name still resolves to it"

// YAML renders the result as a multi-document YAML stream that
// `kubectl apply -f` takes: comments for the skipped edges, then the
// policies separated by "---", the CIDRs of named peers and stale names
// commented. An empty result is a comment only.
func (r CiliumResult) YAML() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# CiliumNetworkPolicies advised by gadget network-graph from a recorded graph.\n")
	b.WriteString("# They allow the traffic that was recorded and deny the rest: review them before applying.\n")
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "# skipped %s\n", strings.ReplaceAll(s, "\n", " "))
	}
	if len(r.Policies) == 0 {
		b.WriteString("# no policy: the graph has no edge of a labelled pod\n")
	}
	stale := make(map[string]string, len(r.StaleNames))
	for _, n := range r.StaleNames {
		stale[n] = staleComment
	}
	for _, p := range r.Policies {
		out, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("cilium network policy %s/%s: %w", p.Metadata.Namespace, p.Metadata.Name, err)
		}
		out = nameCIDRs(out, "- ", r.PeerNames)
		out = nameCIDRs(out, "- matchName: ", stale)
		b.WriteString("---\n")
		b.Write(out)
	}
	return b.Bytes(), nil
}
