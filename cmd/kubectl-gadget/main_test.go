package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// cli runs kubectl-gadget with args against cfg and returns its output
// and exit code.
func cli(t *testing.T, cfg *rest.Config, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	k := &kubeFlags{connect: func() (*clients, error) { return newClients(cfg) }}
	root := newRootCmdWith(&out, &errb, k)
	root.SetArgs(args)
	code = exitCode(root.ExecuteContext(t.Context()), &errb)
	return out.String(), errb.String(), code
}

func TestKubectlGadget(t *testing.T) {
	env, cfg := testenv.StartAPIServer(t, nil)
	c, err := newClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("without the CRD, commands say to deploy", func(t *testing.T) {
		_, stderr, code := cli(t, cfg, "network-graph", "stop")
		if code != 1 || !strings.Contains(stderr, "kubectl gadget deploy") {
			t.Fatalf("stop without CRD: code %d, stderr %q; want advice to run kubectl gadget deploy", code, stderr)
		}
	})

	t.Run("version says when gadget is not deployed", func(t *testing.T) {
		stdout, stderr, code := cli(t, cfg, "version")
		if code != 0 || !strings.Contains(stdout, "Client: kubectl-gadget dev") || !strings.Contains(stdout, "gadget is not deployed in this cluster") {
			t.Errorf("version before deploy: code %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})

	t.Run("deploy applies every manifest, twice", func(t *testing.T) {
		for range 2 {
			stdout, stderr, code := cli(t, cfg, "deploy", "--image", "registry.example/gadgetd:v1")
			if code != 0 {
				t.Fatalf("deploy: code %d: %s", code, stderr)
			}
			for _, want := range []string{"CustomResourceDefinition/traces.gadget.kinvolk.io", "Namespace/gadget", "DaemonSet/gadgetd"} {
				if !strings.Contains(stdout, want+" applied") {
					t.Errorf("deploy output lacks %q:\n%s", want, stdout)
				}
			}
		}
		ds, err := c.typed.AppsV1().DaemonSets("gadget").Get(ctx, "gadgetd", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := ds.Spec.Template.Spec.Containers[0].Image; img != "registry.example/gadgetd:v1" {
			t.Errorf("DaemonSet image = %q, want the --image", img)
		}
		if v := ds.Spec.Template.Labels["app.kubernetes.io/version"]; v != "v1" {
			t.Errorf("pod template version label = %q, want the image's tag v1", v)
		}
	})

	t.Run("deploy of a development build asks for --image", func(t *testing.T) {
		_, stderr, code := cli(t, cfg, "deploy", "--dry-run")
		if code != 2 || !strings.Contains(stderr, "pass --image") {
			t.Errorf("deploy without --image: code %d, stderr %q", code, stderr)
		}
	})

	t.Run("version lists the gadgetd pods", func(t *testing.T) {
		stdout, _, code := cli(t, cfg, "version")
		if code != 0 || !strings.Contains(stdout, "has no pods yet") {
			t.Errorf("version without pods: code %d, stdout %q", code, stdout)
		}
		// envtest runs no DaemonSet controller: make the pod it would.
		pod := gadgetdPod("node-a", "gadgetd-abcde", "registry.example/gadgetd:v1", "v1", false)
		pod.Status = corev1.PodStatus{}
		if err := c.ctrl.Create(ctx, &pod); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := cli(t, cfg, "version")
		want := "NODE    POD            IMAGE                        VERSION  READY\n" +
			"node-a  gadgetd-abcde  registry.example/gadgetd:v1  v1       false\n"
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("version: code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
		}
		if err := c.ctrl.Delete(ctx, &pod); err != nil {
			t.Fatal(err)
		}
	})

	for _, n := range []string{"node-a", "node-b"} {
		if err := c.ctrl.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("start creates one annotated Trace per node and says when no agent answers", func(t *testing.T) {
		_, stderr, code := cli(t, cfg, "network-graph", "start", "-n", "demo", "-l", "app=web", "--wait-timeout", "1s")
		if code != 1 || !strings.Contains(stderr, "no answer within 1s from the agent on node(s) node-a, node-b") {
			t.Fatalf("start: code %d, stderr %q", code, stderr)
		}
		var list v1alpha1.TraceList
		if err := c.ctrl.List(ctx, &list, client.InNamespace("gadget")); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 2 {
			t.Fatalf("got %d traces, want 2", len(list.Items))
		}
		for _, tr := range list.Items {
			if tr.Spec.Gadget != "network-graph" || tr.Spec.Filter == nil || tr.Spec.Filter.Namespace != "demo" ||
				tr.Spec.Filter.Labels["app"] != "web" || tr.Annotations[v1alpha1.OperationAnnotation] != "start" ||
				tr.Spec.OutputMode != v1alpha1.OutputModeStream {
				t.Errorf("trace %s = %+v", tr.Name, tr)
			}
		}
		_, stderr, code = cli(t, cfg, "network-graph", "start", "--node", "node-a")
		if code != 1 || !strings.Contains(stderr, "already runs") {
			t.Errorf("second start: code %d, stderr %q", code, stderr)
		}
	})

	t.Run("stream names the node without an agent", func(t *testing.T) {
		_, stderr, code := cli(t, cfg, "network-graph", "show")
		if code != 1 || !strings.Contains(stderr, "no running gadget agent on node node-a") {
			t.Errorf("show: code %d, stderr %q", code, stderr)
		}
	})

	t.Run("stream says when the trace has no stream token yet", func(t *testing.T) {
		// A running agent on node-b, which never answered the start.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "gadget", Name: "gadgetd-b", Labels: map[string]string{
				"app.kubernetes.io/name": "gadget", "app.kubernetes.io/component": "gadgetd"}},
			Spec: corev1.PodSpec{NodeName: "node-b", Containers: []corev1.Container{{Name: "gadgetd", Image: "gadgetd"}}},
		}
		if err := c.ctrl.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.9"}
		if err := c.ctrl.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := cli(t, cfg, "network-graph", "show")
		if code != 1 || !strings.Contains(stderr, "no status.streamToken") || !strings.Contains(stderr, "node-b") {
			t.Errorf("show: code %d, stderr %q", code, stderr)
		}
	})

	t.Run("RBAC denial is explained", func(t *testing.T) {
		user, err := env.ControlPlane.AddUser(envtest.User{Name: "viewer"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, stderr, code := cli(t, user.Config(), "network-graph", "start", "--name", "other", "--node", "node-a")
		if code != 1 || !strings.Contains(stderr, "RBAC forbids you to create traces") {
			t.Errorf("start as a user without rights: code %d, stderr %q", code, stderr)
		}
	})

	t.Run("the scope policy's denial is explained", func(t *testing.T) {
		// tenant may create Traces in gadget and list the pods there only.
		if err := c.ctrl.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "gadget", Name: "tenant-traces"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "gadget-trace-user"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "tenant"}},
		}); err != nil {
			t.Fatal(err)
		}
		user, err := env.ControlPlane.AddUser(envtest.User{Name: "tenant"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var stderr string
		var code int
		// RBAC and the policy take effect asynchronously.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, stderr, code = cli(t, user.Config(), "network-graph", "start", "--name", "wide", "--node", "node-a", "--wait-timeout", "1s")
			if strings.Contains(stderr, "may not list pods") || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if code != 1 || !strings.Contains(stderr, "tenant may not list pods in all namespaces") ||
			!strings.Contains(stderr, "pass --namespace/-n NAMESPACE") || strings.Contains(stderr, "RBAC forbids") {
			t.Errorf("start without -n as a namespaced user: code %d, stderr %q", code, stderr)
		}
	})

	t.Run("stop annotates, then deletes the traces; those without an agent lose the finalizer", func(t *testing.T) {
		// Both agents once ran (finalizer): node-a's died ten minutes ago,
		// node-b's renewed its heartbeat just now but does not answer.
		var list v1alpha1.TraceList
		if err := c.ctrl.List(ctx, &list, client.InNamespace("gadget")); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			tr := &list.Items[i]
			tr.Finalizers = append(tr.Finalizers, v1alpha1.AgentFinalizer)
			if err := c.ctrl.Update(ctx, tr); err != nil {
				t.Fatal(err)
			}
			beat := time.Now()
			if tr.Spec.Node == "node-a" {
				beat = beat.Add(-10 * time.Minute)
			}
			tr.Status.Conditions = []v1alpha1.TraceCondition{{Type: v1alpha1.ConditionAgentReady, Status: metav1.ConditionTrue,
				Reason: v1alpha1.ReasonAgentRunning, LastHeartbeatTime: metav1.NewTime(beat), HeartbeatIntervalSeconds: 30}}
			if err := c.ctrl.Status().Update(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}

		_, stderr, code := cli(t, cfg, "network-graph", "stop", "--wait-timeout", "1s")
		if code != 1 || !strings.Contains(stderr, "no answer within 1s") {
			t.Errorf("stop: code %d, stderr %q", code, stderr)
		}
		for _, want := range []string{
			`node node-a: no answer: AgentReady Unknown (HeartbeatStale): the agent on node "node-a" has not renewed its heartbeat since`,
			"warning: trace gadget/network-graph-node-a: no agent releases it (AgentReady Unknown, HeartbeatStale",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stop: stderr lacks %q:\n%s", want, stderr)
			}
		}
		list = v1alpha1.TraceList{}
		if err := c.ctrl.List(ctx, &list, client.InNamespace("gadget")); err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, tr := range list.Items {
			left = append(left, tr.Spec.Node)
			if tr.DeletionTimestamp == nil {
				t.Errorf("trace %s not deleted by stop", tr.Name)
			}
		}
		// node-b's live agent releases its own trace (it is not there).
		if !slices.Equal(left, []string{"node-b"}) {
			t.Errorf("traces left after stop on nodes %v, want node-b's only (its agent is alive)", left)
		}
	})

	t.Run("undeploy removes everything, finalizers included", func(t *testing.T) {
		stdout, stderr, code := cli(t, cfg, "undeploy", "--wait-timeout", "1s")
		if code != 0 {
			t.Fatalf("undeploy: code %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "CustomResourceDefinition/traces.gadget.kinvolk.io deleted") {
			t.Errorf("undeploy output:\n%s", stdout)
		}
	})
}

func TestAdviseOffline(t *testing.T) {
	dir := t.TempDir()
	lines := `{"type":"normal","namespace":"shop","pod":"web-1","pktType":"OUTGOING","proto":"tcp","ip":"10.96.0.5","port":80,"remoteKind":"svc","remoteServiceNamespace":"shop","remoteServiceName":"api","remoteServiceLabelSelector":{"app":"api"},"podLabels":{"app":"web","pod-template-hash":"abc"}}
{"type":"normal","namespace":"shop","pod":"web-1","pktType":"OUTGOING","proto":"udp","ip":"fd00::a","port":53,"remoteKind":"other","remoteOther":"fd00::a","podLabels":{"app":"web"}}
`
	jsonl := filepath.Join(dir, "graph.jsonl")
	array := filepath.Join(dir, "graph.json")
	if err := os.WriteFile(jsonl, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(array, []byte("["+strings.ReplaceAll(strings.TrimSpace(lines), "\n", ",")+"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, f := range []string{jsonl, array} {
		stdout, stderr, code := cli(t, nil, "network-graph", "advise", "--input", f)
		if code != 0 {
			t.Fatalf("advise %s: code %d: %s", f, code, stderr)
		}
		for _, want := range []string{"kind: NetworkPolicy", "name: web-network", "app: api", "cidr: fd00::a/128", "protocol: UDP"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("advise %s lacks %q:\n%s", f, want, stdout)
			}
		}
		outs = append(outs, stdout)
	}
	if outs[0] != outs[1] {
		t.Error("JSON lines and JSON array recordings give different advice")
	}
	_, stderr, code := cli(t, nil, "network-graph", "advise")
	if code != 2 || !strings.Contains(stderr, "--input is required") {
		t.Errorf("advise without --input: code %d, %q", code, stderr)
	}
}
