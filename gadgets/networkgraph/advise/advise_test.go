package advise_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/advise"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func edge(ns, pod string, labels map[string]string, pktType, proto, ip string, port int) types.Event {
	return types.Event{
		Event:     eventtypes.Event{Type: eventtypes.NORMAL, Node: "node-1", Namespace: ns, Pod: pod},
		PktType:   pktType,
		Proto:     proto,
		IP:        ip,
		Port:      port,
		PodLabels: labels,
		PodHostIP: "192.168.0.10",
	}
}

func toPod(e types.Event, ns, name string, labels map[string]string) types.Event {
	e.RemoteKind, e.RemotePodNamespace, e.RemotePodName, e.RemotePodLabels = types.RemoteKindPod, ns, name, labels
	return e
}

func toSvc(e types.Event, ns, name string, sel map[string]string) types.Event {
	e.RemoteKind, e.RemoteSvcNamespace, e.RemoteSvcName, e.RemoteSvcLabelSelector = types.RemoteKindSvc, ns, name, sel
	return e
}

func toOther(e types.Event, other string) types.Event {
	e.RemoteKind, e.RemoteOther = types.RemoteKindOther, other
	return e
}

// graph is a small shop: frontend → api (svc and pod IP) → db in another
// namespace, DNS over UDP v4 and v6, the outside world, kubelet probes.
func graph() []types.Event {
	fe := map[string]string{"app": "frontend", "pod-template-hash": "5d9f8"}
	api := map[string]string{"app": "api", "pod-template-hash": "77c6b"}
	api2 := map[string]string{"app": "api", "pod-template-hash": "aaaaa"}
	db := map[string]string{"app": "db", "controller-revision-hash": "db-0"}
	dns := map[string]string{"k8s-app": "kube-dns"}
	return []types.Event{
		toSvc(edge("shop", "frontend-1", fe, "OUTGOING", "tcp", "10.96.0.20", 80), "shop", "api", map[string]string{"app": "api"}),
		toSvc(edge("shop", "frontend-1", fe, "OUTGOING", "udp", "10.96.0.10", 53), "kube-system", "kube-dns", dns),
		toSvc(edge("shop", "frontend-1", fe, "OUTGOING", "udp", "fd00::a", 53), "kube-system", "kube-dns", dns),
		toPod(edge("shop", "api-1", api, "HOST", "tcp", "10.0.0.5", 8080), "shop", "frontend-1", fe),
		toPod(edge("shop", "api-2", api2, "HOST", "tcp", "10.0.0.5", 8080), "shop", "frontend-1", fe),
		toPod(edge("shop", "api-2", api2, "HOST", "tcp", "10.0.0.5", 9090), "shop", "frontend-1", fe),
		toOther(edge("shop", "api-1", api, "HOST", "tcp", "192.168.0.10", 8080), "node-1"),
		toPod(edge("shop", "api-1", api, "OUTGOING", "tcp", "10.0.1.7", 5432), "data", "db-0", db),
		toOther(edge("shop", "api-1", api, "OUTGOING", "tcp", "203.0.113.9", 443), "203.0.113.9"),
		toOther(edge("shop", "api-1", api, "OUTGOING", "tcp", "2001:db8::1", 443), "2001:db8::1"),
		toPod(edge("data", "db-0", db, "HOST", "tcp", "10.0.0.6", 5432), "shop", "api-1", api),
		// Unusable: no labels, host network pod, not an address.
		toOther(edge("shop", "debug", nil, "OUTGOING", "tcp", "10.0.0.9", 22), "10.0.0.9"),
		toOther(edge("shop", "api-1", api, "OUTGOING", "udp", "not-an-ip", 53), ""),
		{Event: eventtypes.Warn("node-1", "12 edges dropped")},
	}
}

func TestAdviseGolden(t *testing.T) {
	tests := []struct {
		name   string
		events []types.Event
	}{
		{"shop", graph()},
		{"empty", nil},
		{"unlabelled", []types.Event{edge("", "gdemo-api", nil, "HOST", "tcp", "10.77.0.2", 8080)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := advise.Advise(tt.events).YAML()
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			path := filepath.Join("testdata", tt.name+".yaml.golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (go test -update writes it): %v", err)
			}
			if string(got) != string(want) {
				t.Errorf("output differs from %s (go test -update if intended)\ngot:\n%s", path, got)
			}
		})
	}
}

func TestAdviseRules(t *testing.T) {
	res := advise.Advise(graph())
	byName := map[string]int{}
	for i, p := range res.Policies {
		byName[p.Namespace+"/"+p.Name] = i
	}
	for _, want := range []string{"shop/frontend-network", "shop/api-network", "data/db-network"} {
		if _, ok := byName[want]; !ok {
			t.Fatalf("no policy %s in %v", want, byName)
		}
	}
	if len(res.Policies) != 3 {
		t.Errorf("got %d policies, want 3 (api-1 and api-2 are one workload)", len(res.Policies))
	}
	api := res.Policies[byName["shop/api-network"]]
	if got := api.Spec.PodSelector.MatchLabels; len(got) != 1 || got["app"] != "api" {
		t.Errorf("api podSelector = %v, want app=api without pod-template-hash", got)
	}
	if len(api.Spec.Ingress) != 1 || len(api.Spec.Ingress[0].Ports) != 2 {
		t.Errorf("api ingress = %+v, want one rule from frontend on 8080 and 9090 (kubelet dropped)", api.Spec.Ingress)
	}
	var sawDB bool
	for _, r := range api.Spec.Egress {
		for _, p := range r.To {
			if p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "data" {
				sawDB = true
			}
		}
	}
	if !sawDB {
		t.Errorf("api egress has no rule to namespace data: %+v", api.Spec.Egress)
	}
	if len(res.Skipped) != 2 {
		t.Errorf("skipped = %q, want the unlabelled pod and the bad address", res.Skipped)
	}
}

func TestAdviseDeterministic(t *testing.T) {
	events := graph()
	first, err := advise.Advise(events).YAML()
	if err != nil {
		t.Fatal(err)
	}
	// Reversed input, same advice.
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
		events[i], events[j] = events[j], events[i]
	}
	second, err := advise.Advise(events).YAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Errorf("advice depends on the order of the edges:\n%s\nvs\n%s", first, second)
	}
	if _, err := json.Marshal(advise.Advise(events).Policies); err != nil {
		t.Fatal(err)
	}
}
