// Package deploy_test checks the deployment manifests in this folder (and
// the generated CRD in crd/) against a real Kubernetes API server.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gadgetkit/gadget/deploy"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// manifest is one object of a YAML file.
type manifest struct {
	file string
	obj  *unstructured.Unstructured
}

func (m manifest) String() string {
	return fmt.Sprintf("%s: %s %s", m.file, m.obj.GetKind(), m.obj.GetName())
}

// readManifests decodes every object of the manifests kubectl gadget
// deploy applies (deploy.Manifests: deploy/*.yaml and deploy/crd/*.yaml).
func readManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := deploy.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest
	for _, f := range files {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(f.Data), 4096)
		for {
			var u unstructured.Unstructured
			err := dec.Decode(&u.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			if len(u.Object) == 0 {
				continue // empty document
			}
			out = append(out, manifest{file: f.Name, obj: &u})
		}
	}
	// Every file on disk is embedded.
	for _, pattern := range []string{"*.yaml", "crd/*.yaml"} {
		names, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !slices.ContainsFunc(files, func(f deploy.File) bool { return f.Name == n }) {
				t.Errorf("%s is not in deploy.Manifests()", n)
			}
		}
	}
	return out
}

// allowedCapabilities are the capabilities the agent may add, each with
// why it may be needed (docs/kubernetes.md justifies the ones added).
var allowedCapabilities = map[string]string{
	"SYS_ADMIN":    "setns into the pods' network namespaces; bpf() and TCX attach",
	"SYS_PTRACE":   "open /proc/PID/ns/net of other processes",
	"BPF":          "bpf() without CAP_SYS_ADMIN",
	"PERFMON":      "eBPF programs that read kernel memory, without CAP_SYS_ADMIN",
	"NET_ADMIN":    "TCX attach without CAP_SYS_ADMIN",
	"SYS_RESOURCE": "RLIMIT_MEMLOCK for eBPF maps on kernels before 5.11",
	"SETUID":       "start go-plugin children as nobody",
	"SETGID":       "start go-plugin children in group nogroup without supplementary groups",
	"NET_RAW":      "packet sockets of the dns gadget, dns-names and attach=packet",
}

// TestManifestsStatic checks what the API server does not: the agent runs
// in the host's PID namespace but its own network namespace, not
// privileged, with every capability dropped but a few justified ones, its
// node name from the downward API and its metrics on loopback; the
// ClusterRoles grant no wildcard and nothing unneeded.
func TestManifestsStatic(t *testing.T) {
	ms := readManifests(t)
	kinds := map[string]*unstructured.Unstructured{}
	roles := map[string]*unstructured.Unstructured{}
	for _, m := range ms {
		kinds[m.obj.GetKind()] = m.obj
		if m.obj.GetKind() == "ClusterRole" {
			roles[m.obj.GetName()] = m.obj
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"} {
		if kinds[k] == nil {
			t.Fatalf("no %s in deploy/*.yaml", k)
		}
	}
	files, err := deploy.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, bad := range []string{"privileged: true", "hostNetwork: true"} {
			if bytes.Contains(f.Data, []byte(bad)) {
				t.Errorf("%s says %q", f.Name, bad)
			}
		}
	}

	ds := kinds["DaemonSet"]
	if v, _, _ := unstructured.NestedBool(ds.Object, "spec", "template", "spec", "hostPID"); !v {
		t.Errorf("DaemonSet: spec.template.spec.hostPID is not true")
	}
	if v, _, _ := unstructured.NestedBool(ds.Object, "spec", "template", "spec", "hostNetwork"); v {
		t.Errorf("DaemonSet: spec.template.spec.hostNetwork is true; gadgetd must run in its own network namespace")
	}
	cs, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("DaemonSet: %d containers, want 1", len(cs))
	}
	c := cs[0].(map[string]any)
	sc, _, _ := unstructured.NestedMap(c, "securityContext")
	if v, _, _ := unstructured.NestedBool(sc, "privileged"); v {
		t.Errorf("DaemonSet: container is privileged")
	}
	if v, ok, _ := unstructured.NestedBool(sc, "allowPrivilegeEscalation"); !ok || v {
		t.Errorf("DaemonSet: allowPrivilegeEscalation is not false")
	}
	if v, _, _ := unstructured.NestedBool(sc, "readOnlyRootFilesystem"); !v {
		t.Errorf("DaemonSet: readOnlyRootFilesystem is not true")
	}
	if v, _, _ := unstructured.NestedString(sc, "seccompProfile", "type"); v == "Unconfined" {
		t.Errorf("DaemonSet: seccomp profile Unconfined")
	}
	drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop")
	if !slices.Contains(drop, "ALL") {
		t.Errorf("DaemonSet: capabilities.drop = %v, want ALL", drop)
	}
	add, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "add")
	doc, err := os.ReadFile(filepath.Join("..", "docs", "kubernetes.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, capName := range add {
		if _, ok := allowedCapabilities[capName]; !ok {
			t.Errorf("DaemonSet: capability %s is not in the allow-list; justify it there and in docs/kubernetes.md", capName)
		}
		if !bytes.Contains(doc, []byte("CAP_"+capName)) {
			t.Errorf("DaemonSet: capability %s is not explained in docs/kubernetes.md (CAP_%s)", capName, capName)
		}
	}
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	for _, a := range args {
		if addr, ok := strings.CutPrefix(a, "--metrics-bind-address="); ok && addr != "0" && !strings.HasPrefix(addr, "127.0.0.1:") && !slices.Contains(args, "--metrics-secure") {
			t.Errorf("DaemonSet: metrics on %s without --metrics-secure, want loopback (127.0.0.1:PORT), 0 or --metrics-secure", addr)
		}
	}
	env, _, _ := unstructured.NestedSlice(c, "env")
	found := false
	for _, e := range env {
		e := e.(map[string]any)
		p, _, _ := unstructured.NestedString(e, "valueFrom", "fieldRef", "fieldPath")
		found = found || (e["name"] == "NODE_NAME" && p == "spec.nodeName")
	}
	if !found {
		t.Errorf("DaemonSet: no NODE_NAME from fieldRef spec.nodeName")
	}
	if sa, _, _ := unstructured.NestedString(ds.Object, "spec", "template", "spec", "serviceAccountName"); sa != kinds["ServiceAccount"].GetName() {
		t.Errorf("DaemonSet: serviceAccountName %q, want %q", sa, kinds["ServiceAccount"].GetName())
	}
	if ds.GetNamespace() != kinds["Namespace"].GetName() || kinds["ServiceAccount"].GetNamespace() != kinds["Namespace"].GetName() {
		t.Errorf("DaemonSet and ServiceAccount must be in namespace %s", kinds["Namespace"].GetName())
	}

	for _, name := range []string{"gadget", "gadget-trace-user"} {
		if roles[name] == nil {
			t.Fatalf("no ClusterRole %s in deploy/rbac.yaml", name)
		}
	}
	for name, role := range roles {
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		for i, r := range rules {
			r := r.(map[string]any)
			for _, f := range []string{"apiGroups", "resources", "verbs"} {
				vals, _, _ := unstructured.NestedStringSlice(r, f)
				if slices.Contains(vals, "*") {
					t.Errorf("ClusterRole %s rule %d: wildcard in %s", name, i, f)
				}
			}
			verbs, _, _ := unstructured.NestedStringSlice(r, "verbs")
			for _, v := range verbs {
				if !slices.Contains([]string{"get", "list", "watch", "create", "update", "patch", "delete"}, v) {
					t.Errorf("ClusterRole %s rule %d: unknown verb %q", name, i, v)
				}
			}
			readOnly := !slices.ContainsFunc(verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
			res, _, _ := unstructured.NestedStringSlice(r, "resources")
			switch {
			case slices.Contains(res, "secrets"),
				slices.Contains(res, "events"), // gadgetd records no events
				slices.Contains(res, "pods") && !readOnly,
				slices.Contains(res, "pods/proxy") && !slices.Equal(verbs, []string{"get"}),
				slices.Contains(res, "pods/exec"), slices.Contains(res, "pods/portforward"):
				t.Errorf("ClusterRole %s rule %d grants more than needed: %v on %v", name, i, verbs, res)
			}
			if name == "gadget" && slices.Contains(res, "pods/proxy") {
				t.Errorf("ClusterRole gadget: the agent does not need pods/proxy")
			}
		}
	}
}

// TestManifestsAPIServer applies every manifest of deploy/ and deploy/crd/
// to a real API server with a server-side dry run and fails on any
// rejection. CRDs and Namespaces are created for real first, so that the
// dry runs of the objects that live in them do not depend on file order.
func TestManifestsAPIServer(t *testing.T) {
	crlog.SetLogger(logr.Discard())
	_, cfg := testenv.StartAPIServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	ms := readManifests(t)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	apply := func(m manifest, dryRun bool) error {
		gvk := m.obj.GroupVersionKind()
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s: no such resource in the API server: %w", m, err)
		}
		b, err := m.obj.MarshalJSON()
		if err != nil {
			return err
		}
		opts := metav1.PatchOptions{FieldManager: "gadget-deploy-test", Force: new(true), FieldValidation: "Strict"}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == "namespace" {
			if m.obj.GetNamespace() == "" {
				return fmt.Errorf("%s: namespaced object without metadata.namespace", m)
			}
			ri = dyn.Resource(mapping.Resource).Namespace(m.obj.GetNamespace())
		}
		if _, err := ri.Patch(ctx, m.obj.GetName(), types.ApplyPatchType, b, opts); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		return nil
	}

	// Prerequisites for real: CRDs (then wait until they serve), then
	// Namespaces.
	var crds []string
	for _, m := range ms {
		if m.obj.GetKind() == "CustomResourceDefinition" {
			if err := apply(m, false); err != nil {
				t.Fatal(err)
			}
			crds = append(crds, m.obj.GetName())
		}
	}
	if len(crds) == 0 {
		t.Fatal("no CustomResourceDefinition in deploy/crd")
	}
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, name := range crds {
		for {
			u, err := dyn.Resource(crdRes).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if established(u) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("CRD %s not established: %v", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	mapper.Reset()
	for _, m := range ms {
		if m.obj.GetKind() == "Namespace" {
			if err := apply(m, false); err != nil {
				t.Fatal(err)
			}
		}
	}

	for _, m := range ms {
		if err := apply(m, true); err != nil {
			t.Errorf("dry-run apply rejected: %v", err)
		}
	}

	// The CRD's own example must be accepted too: the node name is the
	// only field a user has to change.
	trace := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gadget.kinvolk.io/v1alpha1",
		"kind":       "Trace",
		"metadata":   map[string]any{"name": "network-graph", "namespace": "gadget"},
		"spec": map[string]any{
			"node": "worker-1", "gadget": "network-graph", "filter": map[string]any{"namespace": "demo"},
			"runMode": "Manual", "outputMode": "Status",
		},
	}}
	if err := apply(manifest{file: "example", obj: trace}, true); err != nil {
		t.Errorf("dry-run apply of the example Trace rejected: %v", err)
	}
}

// established reports whether a CRD's Established condition is True.
func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		c, ok := c.(map[string]any)
		if ok && c["type"] == "Established" && c["status"] == "True" {
			return true
		}
	}
	return false
}
