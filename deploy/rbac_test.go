package deploy_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// agentUse is one verb the agent's code uses on a resource, and the call
// that uses it: a file of the repository and a snippet of its code.
type agentUse struct {
	resource string // group/resource, "" for the core group
	verb     string
	file     string
	snippet  string
}

// agentUses are all the API requests gadgetd makes, by resource and verb.
// Reads of Traces go through the controller's cache (list and watch);
// the pods of the target filter and the enricher's five resources through
// informers (list and watch). Add a line here with the call when the code
// needs another verb, and grant it in rbac.yaml.
var agentUses = []agentUse{
	{"gadget.kinvolk.io/traces", "list", "framework/controller/controller.go", "func CacheOptions(node string) cache.Options"},
	{"gadget.kinvolk.io/traces", "watch", "framework/controller/controller.go", "func CacheOptions(node string) cache.Options"},
	{"gadget.kinvolk.io/traces", "patch", "framework/controller/controller.go", "r.client.Patch(ctx, &tr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))"},
	{"gadget.kinvolk.io/traces/status", "patch", "framework/controller/controller.go", "r.client.Status().Patch(ctx, tr, client.MergeFrom(orig))"},
	{"/pods", "list", "framework/containers/kube.go", "return pods.List(ctx, o)"},
	{"/pods", "watch", "framework/containers/kube.go", "return pods.Watch(ctx, o)"},
	{"/pods", "list", "framework/kubemeta/kubemeta.go", "f.Core().V1().Pods().Informer()"},
	{"/pods", "watch", "framework/kubemeta/kubemeta.go", "f.Core().V1().Pods().Informer()"},
	{"/services", "list", "framework/kubemeta/kubemeta.go", "f.Core().V1().Services().Informer()"},
	{"/services", "watch", "framework/kubemeta/kubemeta.go", "f.Core().V1().Services().Informer()"},
	{"/nodes", "list", "framework/kubemeta/kubemeta.go", "f.Core().V1().Nodes().Informer()"},
	{"/nodes", "watch", "framework/kubemeta/kubemeta.go", "f.Core().V1().Nodes().Informer()"},
	{"apps/replicasets", "list", "framework/kubemeta/kubemeta.go", "f.Apps().V1().ReplicaSets().Informer()"},
	{"apps/replicasets", "watch", "framework/kubemeta/kubemeta.go", "f.Apps().V1().ReplicaSets().Informer()"},
	{"batch/jobs", "list", "framework/kubemeta/kubemeta.go", "f.Batch().V1().Jobs().Informer()"},
	{"batch/jobs", "watch", "framework/kubemeta/kubemeta.go", "f.Batch().V1().Jobs().Informer()"},
	// The scope check reads the policy and its binding uncached, by name.
	{"admissionregistration.k8s.io/validatingadmissionpolicies", "get", "framework/controller/controller.go", "r.reader = mgr.GetAPIReader()"},
	{"admissionregistration.k8s.io/validatingadmissionpolicies", "get", "framework/controller/scope.go", "reader.Get(ctx, client.ObjectKey{Name: v1alpha1.ScopePolicyName}, u)"},
	{"admissionregistration.k8s.io/validatingadmissionpolicybindings", "get", "framework/controller/scope.go", "reader.Get(ctx, client.ObjectKey{Name: v1alpha1.ScopePolicyName}, u)"},
	// --metrics-secure reviews the token of each metrics request.
	{"authentication.k8s.io/tokenreviews", "create", "internal/kubeauth/kubeauth.go", "r.tokens.Create(ctx, &authnv1.TokenReview{"},
	{"authorization.k8s.io/subjectaccessreviews", "create", "internal/kubeauth/kubeauth.go", "r.access.Create(ctx, &authzv1.SubjectAccessReview{"},
}

// agentCode are the folders of the agent's API calls: calls the table
// does not know of (an Update, a Create, a Delete, an uncached Get) fail
// the test until the table and rbac.yaml say so.
var agentCode = []string{"framework/controller", "framework/containers", "framework/kubemeta", "cmd/gadgetd", "internal/kubeauth"}

// TestAgentRBACMatchesCode checks that the ClusterRole gadget grants
// exactly the verbs the agent's code uses: every use is still in the code
// and granted, and every grant is used.
func TestAgentRBACMatchesCode(t *testing.T) {
	root := ".."
	want := map[string][]string{}
	for _, u := range agentUses {
		src, err := os.ReadFile(filepath.Join(root, u.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), u.snippet) {
			t.Errorf("%s %s: %s no longer contains %q: update agentUses and deploy/rbac.yaml", u.verb, u.resource, u.file, u.snippet)
		}
		if !slices.Contains(want[u.resource], u.verb) {
			want[u.resource] = append(want[u.resource], u.verb)
		}
	}

	// Calls that need verbs the table does not list.
	for _, dir := range agentCode {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []string{".Update(ctx", ".Create(ctx", ".Delete(ctx", "DeleteAllOf(", "GetAPIReader()", ".Events(", "EventRecorder"} {
				rel, _ := filepath.Rel(root, f)
				known := slices.ContainsFunc(agentUses, func(u agentUse) bool {
					return u.file == filepath.ToSlash(rel) && strings.Contains(u.snippet, call)
				})
				if strings.Contains(string(src), call) && !known {
					t.Errorf("%s calls %s: add its verb to agentUses and deploy/rbac.yaml (or remove the call)", f, call)
				}
			}
		}
	}

	var role *unstructured.Unstructured
	for _, m := range readManifests(t) {
		if m.obj.GetKind() == "ClusterRole" && m.obj.GetName() == "gadget" {
			role = m.obj
		}
	}
	if role == nil {
		t.Fatal("no ClusterRole gadget in deploy/rbac.yaml")
	}
	granted := map[string][]string{}
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, r := range rules {
		r := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(r, "apiGroups")
		resources, _, _ := unstructured.NestedStringSlice(r, "resources")
		verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
		for _, g := range groups {
			for _, res := range resources {
				granted[g+"/"+res] = append(granted[g+"/"+res], verbs...)
			}
		}
	}
	for _, res := range slices.Sorted(maps.Keys(granted)) {
		for _, v := range granted[res] {
			if !slices.Contains(want[res], v) {
				t.Errorf("rbac.yaml grants %s on %s, which the agent's code does not use: remove it", v, res)
			}
		}
	}
	for _, res := range slices.Sorted(maps.Keys(want)) {
		for _, v := range want[res] {
			if !slices.Contains(granted[res], v) {
				t.Errorf("the agent's code uses %s on %s, which rbac.yaml does not grant", v, res)
			}
		}
	}
}
