package advise_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/advise"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// ciliumCRD is Cilium's CRD, copied from its Go module by make cilium-crd.
const ciliumCRD = "testdata/ciliumnetworkpolicies.yaml"

var cnpResource = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnetworkpolicies"}

// ciliumAPI starts an API server with Cilium's CRD installed and returns a
// client for CiliumNetworkPolicies that creates namespaces on demand.
func ciliumAPI(t *testing.T) func(obj map[string]any) error {
	t.Helper()
	_, cfg := testenv.StartAPIServer(t, &envtest.Environment{
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{ciliumCRD}},
		ErrorIfCRDPathMissing: true,
	})
	return creator(t, cfg)
}

func creator(t *testing.T, cfg *rest.Config) func(obj map[string]any) error {
	core := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	namespaces := map[string]bool{}
	return func(obj map[string]any) error {
		u := &unstructured.Unstructured{Object: obj}
		ns := u.GetNamespace()
		if !namespaces[ns] {
			namespaces[ns] = true
			if _, err := core.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// Strict: a field the schema does not know is an error, not
		// silently pruned.
		_, err := dyn.Resource(cnpResource).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{
			DryRun: []string{metav1.DryRunAll}, FieldValidation: metav1.FieldValidationStrict,
		})
		return err
	}
}

// TestAPIServerAcceptsCilium applies every advised CiliumNetworkPolicy, as
// the YAML the format prints, to a real kube-apiserver that has Cilium's
// CRD (server-side dry run, strict field validation): the CRD's OpenAPI
// schema, its formats (cidr) and patterns (matchName, port) are the judge.
// Policies the schema rejects must fail too, or the check proves nothing.
func TestAPIServerAcceptsCilium(t *testing.T) {
	create := ciliumAPI(t)

	var events []types.Event
	for _, tc := range ciliumCases {
		events = append(events, tc.events...)
	}
	// Each case alone, and all of them as one workload.
	results := []advise.CiliumResult{advise.AdviseCilium(events)}
	for _, tc := range ciliumCases {
		results = append(results, advise.AdviseCilium(tc.events))
	}
	checked := 0
	for _, res := range results {
		y, err := res.YAML()
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range documents(t, y) {
			if err := create(doc); err != nil {
				t.Errorf("API server rejects advised policy: %v\n%s", err, js(doc))
			}
			checked++
		}
	}
	if checked != len(results) {
		t.Errorf("checked %d policies, want %d", checked, len(results))
	}
	// And what the format's golden files show users.
	goldens, _ := filepath.Glob("../format/testdata/*.ciliumnetworkpolicy.golden")
	if len(goldens) == 0 {
		t.Error("no golden files of the ciliumnetworkpolicy format")
	}
	for _, f := range goldens {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stdout, _, _ := strings.Cut(strings.TrimPrefix(string(b), "-- stdout --\n"), "-- stderr --\n")
		for _, doc := range documents(t, []byte(stdout)) {
			if err := create(doc); err != nil {
				t.Errorf("%s: API server rejects policy: %v\n%s", f, err, js(doc))
			}
		}
	}

	good := advise.AdviseCilium(ciliumCases[2].events).Policies[0]
	bad := []struct {
		name string
		edit func(p *advise.CiliumNetworkPolicy)
		obj  func(map[string]any)
	}{
		{name: "matchName with a space", edit: func(p *advise.CiliumNetworkPolicy) { p.Spec.Egress[1].ToFQDNs[0].MatchName = "bad name" }},
		{name: "toCIDR not a CIDR", edit: func(p *advise.CiliumNetworkPolicy) { p.Spec.Egress[1].ToCIDR = []string{"example.com"} }},
		// (The CRD's port pattern has an unanchored alternative: it takes "70000".)
		{name: "port neither number nor name", edit: func(p *advise.CiliumNetworkPolicy) { p.Spec.Egress[1].ToPorts[0].Ports[0].Port = "--" }},
		{name: "unknown protocol", edit: func(p *advise.CiliumNetworkPolicy) { p.Spec.Egress[1].ToPorts[0].Ports[0].Protocol = "ICMP" }},
		{name: "no endpointSelector", obj: func(o map[string]any) { delete(o["spec"].(map[string]any), "endpointSelector") }},
		{name: "unknown field", obj: func(o map[string]any) { o["spec"].(map[string]any)["toFQDN"] = []any{} }},
	}
	for _, b := range bad {
		t.Run("rejects "+b.name, func(t *testing.T) {
			p := clone(t, good)
			if b.edit != nil {
				b.edit(&p)
			}
			obj := object(t, p)
			if b.obj != nil {
				b.obj(obj)
			}
			err := create(obj)
			if err == nil {
				t.Fatalf("API server accepts a bad policy:\n%s", js(obj))
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("API server fails for another reason than validation: %v", err)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// documents splits a YAML stream at its "---" lines and decodes each
// document that is not only comments.
func documents(t *testing.T, stream []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		lines := slices.DeleteFunc(strings.Split(doc, "\n"), func(l string) bool {
			return strings.HasPrefix(l, "#") || strings.TrimSpace(l) == ""
		})
		if len(lines) == 0 {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("policy YAML does not decode: %v\n%s", err, doc)
		}
		out = append(out, obj)
	}
	return out
}

func clone(t *testing.T, p advise.CiliumNetworkPolicy) advise.CiliumNetworkPolicy {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var c advise.CiliumNetworkPolicy
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func object(t *testing.T, p advise.CiliumNetworkPolicy) map[string]any {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}
