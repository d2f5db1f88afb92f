// Package advise turns a recorded network graph into Kubernetes
// NetworkPolicies that allow exactly the traffic that was seen, the main
// reason to record the graph.
//
// Pods are grouped into workloads by namespace and labels, ignoring the
// labels controllers add per revision (pod-template-hash,
// controller-revision-hash, pod-template-generation). Each workload gets one
// policy selecting it by those labels, of both policy types, so traffic
// not seen while recording is denied:
//
//   - an OUTGOING edge becomes an egress rule to its remote end on its port;
//   - a HOST edge becomes an ingress rule from its remote end to the pod's
//     own port, except traffic from the pod's own node (kubelet probes),
//     which NetworkPolicy cannot block anyway;
//   - the remote end is a podSelector for a pod, the Service's selector for
//     a service, with a namespaceSelector when it lives in another
//     namespace, and an ipBlock of the single address otherwise.
//
// Rules to the same peer are merged and their ports sorted; rules and
// policies are sorted, so the same graph always gives the same policies.
// Edges that cannot be turned into a rule (a pod without labels, a remote
// end without a usable address) are reported in Result.Skipped rather than
// guessed at.
package advise

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// IgnoredLabels are the labels controllers set per revision of a
// workload; they never select a workload.
var IgnoredLabels = []string{"pod-template-hash", "controller-revision-hash", "pod-template-generation"}

// namespaceLabel is the label the API server sets on every namespace to
// its name.
const namespaceLabel = "kubernetes.io/metadata.name"

// Result is the advice for one graph.
type Result struct {
	// Policies are the NetworkPolicies, sorted by namespace and name.
	Policies []networkingv1.NetworkPolicy
	// Skipped says, one line each and sorted, which edges gave no rule
	// and why.
	Skipped []string
	// PeerNames names the IP blocks of the policies from the DNS names
	// the pods resolved to them (Event.RemoteName): CIDR to the names,
	// sorted and comma-separated, each marked " (stale)" when every edge
	// that named it was past the answer's TTL. YAML writes them as
	// comments beside the blocks.
	PeerNames map[string]string
}

// workload is the set of pods one policy selects.
type workload struct {
	namespace string
	labels    map[string]string
	owner     string
	ingress   map[string]*rule
	egress    map[string]*rule
}

// rule is the rule for one peer, with its ports.
type rule struct {
	peer  networkingv1.NetworkPolicyPeer
	ports map[string]networkingv1.NetworkPolicyPort
}

// policyEdges yields the unique edges of events that a policy can allow,
// each with the labels that select its workload. An edge of a pod without
// such labels is told to skip; the node's own traffic to its pods (kubelet
// probes), which no policy needs to allow, and warn and err events are
// left out silently.
func policyEdges(events []types.Event, skip func(why string)) iter.Seq2[types.Event, map[string]string] {
	return func(yield func(types.Event, map[string]string) bool) {
		for _, e := range types.Unique(events) {
			if !e.IsEdge() {
				continue
			}
			labels := workloadLabels(e.PodLabels)
			if len(labels) == 0 {
				skip(fmt.Sprintf("%s: pod %s has no labels to select it by", edgeName(e), podName(e)))
				continue
			}
			if e.PktType == types.PktTypeHost && fromOwnNode(e) {
				continue
			}
			if !yield(e, labels) {
				return
			}
		}
	}
}

// Advise returns the policies for the edges of events (warn and err
// events are ignored). It never fails: what it cannot use is in
// Result.Skipped.
func Advise(events []types.Event) Result {
	var res Result
	workloads := map[string]*workload{}
	names := peerNames{}
	for e, labels := range policyEdges(events, func(why string) { res.Skipped = append(res.Skipped, why) }) {
		peer, why := peerOf(e)
		if why != "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s", edgeName(e), why))
			continue
		}
		port, why := portOf(e)
		if why != "" {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s", edgeName(e), why))
			continue
		}

		key := e.Namespace + "\x00" + labelString(labels)
		w := workloads[key]
		if w == nil {
			w = &workload{namespace: e.Namespace, labels: labels, ingress: map[string]*rule{}, egress: map[string]*rule{}}
			workloads[key] = w
		}
		if w.owner == "" {
			w.owner = e.PodOwner
		}
		rules := w.egress
		switch e.PktType {
		case types.PktTypeHost:
			rules = w.ingress
		case types.PktTypeOutgoing:
		default:
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: unknown pktType %q", edgeName(e), e.PktType))
			continue
		}
		pk := peerKey(peer)
		r := rules[pk]
		if r == nil {
			r = &rule{peer: peer, ports: map[string]networkingv1.NetworkPolicyPort{}}
			rules[pk] = r
		}
		r.ports[portKey(port)] = port
		if peer.IPBlock != nil {
			names.add(peer.IPBlock.CIDR, e)
		}
	}
	res.PeerNames = names.comments()

	taken := map[string]int{}
	for _, key := range slices.Sorted(maps.Keys(workloads)) {
		w := workloads[key]
		name := policyName(w)
		if n := taken[w.namespace+"/"+name]; n > 0 {
			name = fmt.Sprintf("%s-%d", name, n+1)
		}
		taken[w.namespace+"/"+policyName(w)]++
		res.Policies = append(res.Policies, w.policy(name))
	}
	slices.Sort(res.Skipped)
	slices.SortFunc(res.Policies, func(a, b networkingv1.NetworkPolicy) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return res
}

// peerNames collects the DNS names of remote addresses: address (a CIDR)
// to name to whether every edge naming it was stale.
type peerNames map[string]map[string]bool

// add records the name of e's remote end, if it has one, for addr.
func (p peerNames) add(addr string, e types.Event) {
	if e.RemoteName == "" {
		return
	}
	names := p[addr]
	if names == nil {
		names = map[string]bool{}
		p[addr] = names
	}
	stale, seen := names[e.RemoteName]
	names[e.RemoteName] = e.RemoteNameStale && (!seen || stale)
}

// comments returns, per address, its names sorted and comma-separated,
// each marked " (stale)" when only stale answers named it; nil when no
// address has a name.
func (p peerNames) comments() map[string]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string]string, len(p))
	for addr, names := range p {
		var parts []string
		for _, n := range slices.Sorted(maps.Keys(names)) {
			if names[n] {
				n += " (stale)"
			}
			parts = append(parts, n)
		}
		out[addr] = strings.Join(parts, ", ")
	}
	return out
}

// policy builds the workload's NetworkPolicy called name.
func (w *workload) policy(name string) networkingv1.NetworkPolicy {
	p := networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: w.labels},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	for _, r := range sortedRules(w.ingress) {
		p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{r.peer}, Ports: sortedPorts(r)})
	}
	for _, r := range sortedRules(w.egress) {
		p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{r.peer}, Ports: sortedPorts(r)})
	}
	return p
}

func sortedRules(rules map[string]*rule) []*rule {
	out := make([]*rule, 0, len(rules))
	for _, k := range slices.Sorted(maps.Keys(rules)) {
		out = append(out, rules[k])
	}
	return out
}

func sortedPorts(r *rule) []networkingv1.NetworkPolicyPort {
	ports := slices.Collect(maps.Values(r.ports))
	slices.SortFunc(ports, func(a, b networkingv1.NetworkPolicyPort) int {
		return cmp.Or(cmp.Compare(*a.Protocol, *b.Protocol), cmp.Compare(a.Port.IntVal, b.Port.IntVal))
	})
	return ports
}

// peerOf returns the peer of the edge's remote end, or why there is none.
func peerOf(e types.Event) (networkingv1.NetworkPolicyPeer, string) {
	switch e.RemoteKind {
	case types.RemoteKindPod:
		labels := workloadLabels(e.RemotePodLabels)
		if len(labels) == 0 {
			return ipPeer(e.IP)
		}
		return selectorPeer(e.Namespace, e.RemotePodNamespace, labels), ""
	case types.RemoteKindSvc:
		if len(e.RemoteSvcLabelSelector) == 0 {
			// A Service without selector (e.g. to an external name or
			// manual endpoints): its backends are unknown.
			return ipPeer(e.IP)
		}
		return selectorPeer(e.Namespace, e.RemoteSvcNamespace, maps.Clone(e.RemoteSvcLabelSelector)), ""
	default:
		return ipPeer(e.IP)
	}
}

// selectorPeer selects the pods with labels in namespace ns, seen from a
// pod in namespace from.
func selectorPeer(from, ns string, labels map[string]string) networkingv1.NetworkPolicyPeer {
	peer := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: labels}}
	if ns != "" && ns != from {
		peer.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{namespaceLabel: ns}}
	}
	return peer
}

// ipPeer is a peer of the single address ip.
func ipPeer(ip string) (networkingv1.NetworkPolicyPeer, string) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return networkingv1.NetworkPolicyPeer{}, fmt.Sprintf("remote end %q is not an IP address", ip)
	}
	addr = addr.Unmap()
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: netip.PrefixFrom(addr, addr.BitLen()).String()}}, ""
}

// portOf returns the port of the edge, or why it has none.
func portOf(e types.Event) (networkingv1.NetworkPolicyPort, string) {
	var proto corev1.Protocol
	switch e.Proto {
	case "tcp":
		proto = corev1.ProtocolTCP
	case "udp":
		proto = corev1.ProtocolUDP
	default:
		return networkingv1.NetworkPolicyPort{}, fmt.Sprintf("protocol %q is neither tcp nor udp", e.Proto)
	}
	if e.Port < 1 || e.Port > 65535 {
		return networkingv1.NetworkPolicyPort{}, fmt.Sprintf("port %d is out of range 1-65535", e.Port)
	}
	port := intstr.FromInt32(int32(e.Port))
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &port}, ""
}

// fromOwnNode reports whether a HOST edge comes from the pod's own node.
func fromOwnNode(e types.Event) bool {
	if e.PodHostIP != "" && e.IP == e.PodHostIP {
		return true
	}
	return e.RemoteKind == types.RemoteKindOther && e.Node != "" && e.RemoteOther == e.Node
}

// workloadLabels returns labels without the per-revision ones.
func workloadLabels(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	for _, l := range IgnoredLabels {
		delete(out, l)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// policyName names the policy of w: its owner's name when known, else its
// labels, made a valid object name.
func policyName(w *workload) string {
	base := w.owner
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	if base == "" {
		if v, ok := w.labels["app.kubernetes.io/name"]; ok {
			base = v
		} else if v, ok := w.labels["app"]; ok {
			base = v
		} else {
			base = labelString(w.labels)
		}
	}
	return dnsName(base + "-network")
}

// dnsName makes s a valid DNS-1123 subdomain.
func dnsName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if len(out) > validation.DNS1123SubdomainMaxLength-4 {
		out = strings.Trim(out[:validation.DNS1123SubdomainMaxLength-4], "-.")
	}
	if out == "" {
		out = "workload-network"
	}
	return out
}

func labelString(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

func peerKey(p networkingv1.NetworkPolicyPeer) string {
	var parts []string
	if p.NamespaceSelector != nil {
		parts = append(parts, "ns:"+labelString(p.NamespaceSelector.MatchLabels))
	}
	if p.PodSelector != nil {
		parts = append(parts, "pod:"+labelString(p.PodSelector.MatchLabels))
	}
	if p.IPBlock != nil {
		parts = append(parts, "ip:"+p.IPBlock.CIDR)
	}
	return strings.Join(parts, " ")
}

func portKey(p networkingv1.NetworkPolicyPort) string {
	return fmt.Sprintf("%s/%05d", *p.Protocol, p.Port.IntVal)
}

func edgeName(e types.Event) string {
	return fmt.Sprintf("edge %s %s %s %s:%d", podName(e), e.PktType, e.Proto, e.IP, e.Port)
}

func podName(e types.Event) string {
	if e.Namespace == "" {
		return e.Pod
	}
	return e.Namespace + "/" + e.Pod
}
