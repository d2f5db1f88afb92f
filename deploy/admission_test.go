package deploy_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestScopePolicy applies the manifests (the ValidatingAdmissionPolicy of
// deploy/admission.yaml included) to a real API server with RBAC and
// checks who may create and update which Trace: a Trace may watch only
// pods its creator may list.
func TestScopePolicy(t *testing.T) {
	crlog.SetLogger(logr.Discard())
	env, cfg := testenv.StartAPIServer(t, &envtest.Environment{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := newClient(t, cfg)
	applyAll(ctx, t, admin)
	for _, ns := range []string{"tenant", "demo"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	// alice: Traces and pods of namespace tenant (gadget-trace-user bound
	// there: it grants list pods, in tenant only).
	bind(ctx, t, admin, "tenant", "alice", "gadget-trace-user")
	// bob: Traces of namespace tenant, but he may not list pods anywhere.
	traceOnly := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-traces-only"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"traces"},
			Verbs: []string{"get", "create", "update", "patch"}}},
	}
	if err := admin.Create(ctx, traceOnly); err != nil {
		t.Fatal(err)
	}
	bind(ctx, t, admin, "tenant", "bob", traceOnly.Name)
	// carol: cluster-admin.
	if err := admin.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-carol-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}},
	}); err != nil {
		t.Fatal(err)
	}
	users := map[string]client.Client{}
	for _, name := range []string{"alice", "bob", "carol"} {
		u, err := env.ControlPlane.AddUser(envtest.User{Name: name}, nil)
		if err != nil {
			t.Fatal(err)
		}
		users[name] = newClient(t, u.Config())
	}

	// The API server loads a new policy asynchronously: wait until it
	// denies what it must.
	waitFor(ctx, t, "the scope policy to be in force", func() (bool, string) {
		err := users["alice"].Create(ctx, trace("probe", "demo"), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "may not list pods"), errString(err)
	})

	for _, tc := range []struct {
		name, user, filterNS string
		want                 string // part of the denial; empty: allowed
	}{
		{"own namespace", "alice", "tenant", ""},
		{"other namespace", "alice", "demo",
			"spec.filter.namespace demo: alice may not list pods in namespace demo, and a Trace may watch only pods its creator may list"},
		{"cluster-wide", "alice", "",
			"spec.filter.namespace is empty, which watches the pods of every namespace on spec.node, but alice may not list pods in all namespaces"},
		{"may create traces but not list pods", "bob", "tenant", "bob may not list pods in namespace tenant"},
		{"cluster-admin, cluster-wide", "carol", "", ""},
		{"cluster-admin, other namespace", "carol", "demo", ""},
	} {
		t.Run("create/"+tc.name, func(t *testing.T) {
			name := strings.NewReplacer(" ", "-", ",", "").Replace(tc.user + "-" + tc.name)
			err := users[tc.user].Create(ctx, trace(name, tc.filterNS))
			checkAdmission(t, err, tc.want)
		})
	}

	t.Run("spec.node is required", func(t *testing.T) {
		tr := trace("no-node", "tenant")
		tr.Spec.Node = ""
		err := users["carol"].Create(ctx, tr)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.node") {
			t.Errorf("create without spec.node: %v; want Invalid naming spec.node", err)
		}
	})

	t.Run("update", func(t *testing.T) {
		c := users["alice"]
		key := types.NamespacedName{Namespace: "tenant", Name: "alice-own-namespace"}
		for _, tc := range []struct {
			name  string
			patch string
			want  string
		}{
			{"the operation annotation", `{"metadata":{"annotations":{"` + v1alpha1.OperationAnnotation + `":"start"}}}`, ""},
			{"narrower: a pod name", `{"spec":{"filter":{"podname":"web-1"}}}`, ""},
			{"widen to another namespace", `{"spec":{"filter":{"namespace":"demo"}}}`,
				"spec.filter.namespace demo: alice may not list pods in namespace demo"},
			{"widen to every namespace", `{"spec":{"filter":null}}`,
				"spec.filter.namespace is empty, which watches the pods of every namespace on spec.node, but alice may not list pods"},
			{"widen by removing the namespace", `{"spec":{"filter":{"namespace":null}}}`, "alice may not list pods in all namespaces"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tr := &v1alpha1.Trace{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
				err := c.Patch(ctx, tr, client.RawPatch(types.MergePatchType, []byte(tc.patch)))
				checkAdmission(t, err, tc.want)
			})
		}
		var tr v1alpha1.Trace
		if err := admin.Get(ctx, key, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Spec.Filter == nil || tr.Spec.Filter.Namespace != "tenant" {
			t.Errorf("spec.filter after the denied updates = %+v, want namespace tenant", tr.Spec.Filter)
		}
		// Updates by others that leave the namespace alone pass: the agent's
		// finalizer, bob's annotation.
		patch := `{"metadata":{"annotations":{"` + v1alpha1.OperationAnnotation + `":"stop"}}}`
		err := users["bob"].Patch(ctx, &tr, client.RawPatch(types.MergePatchType, []byte(patch)))
		checkAdmission(t, err, "")
		// The status subresource is not checked.
		tr.Status.State = v1alpha1.TraceStateStopped
		checkAdmission(t, admin.Status().Update(ctx, &tr), "")
	})
}

// checkAdmission fails unless err is nil (want empty) or a Forbidden
// denial containing want.
func checkAdmission(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("denied: %v; want allowed", err)
	case want != "" && err == nil:
		t.Errorf("allowed; want denied with %q", want)
	case want != "" && !apierrors.IsForbidden(err):
		t.Errorf("error %v (reason %s); want Forbidden with %q", err, apierrors.ReasonForError(err), want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("denial %q; want it to say %q", err, want)
	case want != "" && !strings.Contains(err.Error(), "set spec.filter.namespace to a namespace where you may list pods"):
		t.Errorf("denial %q does not say the fix", err)
	}
}

// trace is a Trace in namespace tenant watching the pods of namespace ns
// (every namespace when empty).
func trace(name, ns string) *v1alpha1.Trace {
	tr := &v1alpha1.Trace{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: name},
		Spec:       v1alpha1.TraceSpec{Node: "worker-1", Gadget: "network-graph"},
	}
	if ns != "" {
		tr.Spec.Filter = &v1alpha1.TraceFilter{Namespace: ns}
	}
	return tr
}

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyAll applies every manifest for real, CRDs first (waiting until
// they serve).
func applyAll(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	for _, m := range readManifests(t) {
		err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(m.obj), client.ForceOwnership, client.FieldOwner("gadget-deploy-test"))
		if err != nil {
			t.Fatalf("apply %s: %v", m, err)
		}
		if m.obj.GetKind() == "CustomResourceDefinition" {
			waitFor(ctx, t, "CRD "+m.obj.GetName()+" established", func() (bool, string) {
				u := m.obj.DeepCopy()
				if err := c.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
					return false, err.Error()
				}
				return established(u), "not established"
			})
		}
	}
}

// bind binds the ClusterRole role to user in namespace ns.
func bind(ctx context.Context, t *testing.T, c client.Client, ns, user, role string) {
	t.Helper()
	if err := c.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user + "-" + role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 100 ms until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last: %s", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestScopePolicyStatic checks what TestScopePolicy does not: the policy
// fails closed, its binding denies, it comes first in apply order, and
// the agent may read the two objects by name only.
func TestScopePolicyStatic(t *testing.T) {
	ms := readManifests(t)
	if k := ms[0].obj.GetKind(); k != "ValidatingAdmissionPolicy" {
		t.Errorf("first object applied is a %s; want the scope policy, so that no Trace is admitted unchecked", k)
	}
	var policy, binding, agent *unstructured.Unstructured
	for _, m := range ms {
		switch {
		case m.obj.GetKind() == "ValidatingAdmissionPolicy":
			policy = m.obj
		case m.obj.GetKind() == "ValidatingAdmissionPolicyBinding":
			binding = m.obj
		case m.obj.GetKind() == "ClusterRole" && m.obj.GetName() == "gadget":
			agent = m.obj
		}
	}
	if policy == nil || binding == nil || agent == nil {
		t.Fatalf("policy %v, binding %v, agent ClusterRole %v: one is missing", policy != nil, binding != nil, agent != nil)
	}
	if policy.GetName() != v1alpha1.ScopePolicyName || binding.GetName() != v1alpha1.ScopePolicyName {
		t.Errorf("names %s and %s, want %s (gadgetd looks them up by it)", policy.GetName(), binding.GetName(), v1alpha1.ScopePolicyName)
	}
	if fp, _, _ := unstructured.NestedString(policy.Object, "spec", "failurePolicy"); fp != "Fail" {
		t.Errorf("failurePolicy %q, want Fail", fp)
	}
	if name, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName"); name != policy.GetName() {
		t.Errorf("binding policyName %q, want %q", name, policy.GetName())
	}
	if acts, _, _ := unstructured.NestedStringSlice(binding.Object, "spec", "validationActions"); !slices.Equal(acts, []string{"Deny"}) {
		t.Errorf("binding validationActions %v, want [Deny]", acts)
	}
	rules, _, _ := unstructured.NestedSlice(agent.Object, "rules")
	found := false
	for _, r := range rules {
		r := r.(map[string]any)
		groups, _, _ := unstructured.NestedStringSlice(r, "apiGroups")
		if !slices.Contains(groups, "admissionregistration.k8s.io") {
			continue
		}
		found = true
		verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
		names, _, _ := unstructured.NestedStringSlice(r, "resourceNames")
		if !slices.Equal(verbs, []string{"get"}) || !slices.Equal(names, []string{v1alpha1.ScopePolicyName}) {
			t.Errorf("ClusterRole gadget: %v on admission objects named %v; want get on %s only", verbs, names, v1alpha1.ScopePolicyName)
		}
	}
	if !found {
		t.Error("ClusterRole gadget cannot read the scope policy, and gadgetd runs no trace without it")
	}
}
