//go:build e2e

// Package e2e runs the network-graph gadget end to end on a simulated
// node: a real kube-apiserver and etcd (envtest), network namespaces as
// the pods of namespace demo with their Pod objects in the API server,
// and gadgetd as a real process with the deployment's RBAC and
// capabilities. A Trace in outputMode Status is started and stopped with
// the operation annotation around real TCP and UDP traffic, with one pod
// added and deleted while it runs, and status.output must hold exactly the
// expected edges.
// hack/e2e.sh (make e2e) builds gadgetd and runs it:
//
//	go test -tags e2e ./test/e2e -gadgetd bin/gadgetd -v
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

var gadgetdPath = flag.String("gadgetd", "", "gadgetd binary to run (required; hack/e2e.sh builds it)")

// e2eSetup checks what every test of this package needs (root and eBPF,
// the gadgetd binary -gadgetd names, the API server assets) and returns
// gadgetd's absolute path and the assets' folder; run is how to run the
// test (the make target), for the failures.
func e2eSetup(t *testing.T, run string) (gadgetd, assets string) {
	t.Helper()
	testenv.RequirePrivileged(t)
	gadgetd = binaryFlag(t, "gadgetd", *gadgetdPath, run)
	assets = os.Getenv(testenv.AssetsEnv)
	if assets == "" {
		t.Fatalf("%s is not set: run %s, which builds the API server assets with hack/envtest-assets.sh", testenv.AssetsEnv, run)
	}
	return gadgetd, assets
}

// binaryFlag is the absolute path of the binary that the flag -name gives
// as path; the test fails when it is not set.
func binaryFlag(t *testing.T, name, path, run string) string {
	t.Helper()
	if path == "" {
		t.Fatalf("-%s is not set: run %s, or go test -tags e2e ./test/e2e -%s bin/%s", name, run, name, name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("-%s %s: %v", name, path, err)
	}
	return abs
}

// e2eContext ends after timeout, or at Ctrl-C or SIGTERM: the steps of a
// test end through it, and its cleanups (gadgetd, namespaces, API server)
// still run.
func e2eContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel(); stop() }
}

const (
	node       = "e2e-node"
	operation  = "gadget.kinvolk.io/operation"
	serverPort = 8080
	udpPort    = 5353
)

var traceGVR = schema.GroupVersionResource{Group: "gadget.kinvolk.io", Version: "v1alpha1", Resource: "traces"}

// repo is the repository root, relative to this package.
const repo = "../.."

func TestNetworkGraphStatusOutput(t *testing.T) {
	bin, assets := e2eSetup(t, "make e2e")
	ctx, cancel := e2eContext(4 * time.Minute)
	defer cancel()

	step := func(format string, args ...any) { t.Logf("== "+format, args...) }

	step("starting kube-apiserver and etcd from %s with the Trace CRD, applying deploy/admission.yaml, namespace.yaml and "+
		"deploy/rbac.yaml; gadgetd runs as ServiceAccount gadget/gadget", assets)
	c := startCluster(ctx, t, assets)
	cs, dyn, kubeconfig := c.cs, c.dyn, c.agentKubeconfig

	step("creating the pods demo/client and demo/server: network namespaces joined by a veth, Pod objects on node %s", node)
	client, server := testenv.NewNetns(t, "e2e-client"), testenv.NewNetns(t, "e2e-server")
	subnets := randomSubnets(t)
	clientIP, serverIP := vethPair(t, client, server, subnets[0])
	createNamespace(ctx, t, cs, "demo")
	createPod(ctx, t, cs, "demo", "client", clientIP)
	createPod(ctx, t, cs, "demo", "server", serverIP)

	step("starting %s --node-name %s", bin, node)
	gadgetdLog := startGadgetd(t, bin, kubeconfig)

	step("applying the documentation's example Trace, with spec.node %s and spec.outputMode Status", node)
	tr := exampleTrace(t)
	if _, err := dyn.Resource(traceGVR).Namespace(tr.GetNamespace()).Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Trace: %v", err)
	}
	traces := dyn.Resource(traceGVR).Namespace(tr.GetNamespace())
	name := tr.GetName()

	step("kubectl annotate -n %s trace/%s %s=start", tr.GetNamespace(), name, operation)
	annotate(ctx, t, traces, name, "start")
	waitState(ctx, t, traces, name, "Started")

	step("traffic: client -> server TCP %s:%d (3 connections), UDP %s:%d (5 datagrams)", serverIP, serverPort, serverIP, udpPort)
	tcpTraffic(t, client, server, serverIP, 3)
	udpTraffic(t, client, server, serverIP, 5)

	step("pod demo/late appears while the trace runs: attached live, sends TCP, then is deleted and detached live")
	late := testenv.NewNetns(t, "e2e-late")
	lateIP, serverIP2 := vethPair(t, late, server, subnets[1])
	createPod(ctx, t, cs, "demo", "late", lateIP)
	waitLog(ctx, t, gadgetdLog, `msg="target added".* target=demo/late `)
	tcpTraffic(t, late, server, serverIP2, 2)
	zero := int64(0)
	if err := cs.CoreV1().Pods("demo").Delete(ctx, "late", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatalf("delete pod demo/late: %v", err)
	}
	waitLog(ctx, t, gadgetdLog, `msg="target removed".* target=demo/late`)

	step("kubectl annotate -n %s trace/%s %s=stop", tr.GetNamespace(), name, operation)
	annotate(ctx, t, traces, name, "stop")
	final := waitState(ctx, t, traces, name, "Stopped")

	out, _, _ := unstructured.NestedString(final.Object, "status", "output")
	warn, _, _ := unstructured.NestedString(final.Object, "status", "operationWarning")
	if warn != "" {
		t.Logf("status.operationWarning: %s", warn)
	}
	var events []ngtypes.Event
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		t.Fatalf("status.output is not a JSON array of edges: %v\n%s", err, out)
	}
	var graph strings.Builder
	for _, e := range events {
		remote := e.RemoteKind
		switch e.RemoteKind {
		case "pod":
			remote += " " + e.RemotePodNamespace + "/" + e.RemotePodName
		case "svc":
			remote += " " + e.RemoteSvcNamespace + "/" + e.RemoteSvcName
		case "other":
			remote += " " + e.RemoteOther
		}
		fmt.Fprintf(&graph, "  %-12s %-8s %-3s %s:%d  %s\n", e.Namespace+"/"+e.Pod, e.PktType, e.Proto, e.IP, e.Port, remote)
	}
	t.Logf("== the graph in status.output (%d edges):\n%s", len(events), graph.String())
	if warn != "" || t.Failed() {
		t.Logf("status.output as events:\n%s", ngtypes.EventsString(events))
	}

	want := []string{
		fmt.Sprintf("demo/client OUTGOING tcp %s %d", serverIP, serverPort),
		fmt.Sprintf("demo/server HOST tcp %s %d", clientIP, serverPort),
		fmt.Sprintf("demo/client OUTGOING udp %s %d", serverIP, udpPort),
		fmt.Sprintf("demo/server HOST udp %s %d", clientIP, udpPort),
		fmt.Sprintf("demo/late OUTGOING tcp %s %d", serverIP2, serverPort),
		fmt.Sprintf("demo/server HOST tcp %s %d", lateIP, serverPort),
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s/%s %s %s %s %d", e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, e.Port))
	}
	slices.Sort(want)
	slices.Sort(got)
	defer func() {
		if t.Failed() {
			t.Logf("status.output as events:\n%s", ngtypes.EventsString(events))
		}
	}()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing edge: %s", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("unexpected edge: %s", g)
		}
	}
	for _, e := range events {
		if e.Node != node {
			t.Errorf("edge %s/%s %s: node %q, want %q", e.Namespace, e.Pod, e.IP, e.Node, node)
		}
	}

	step("deleting the Trace: gadgetd releases it and removes its finalizer")
	if err := traces.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete Trace: %v", err)
	}
	poll(ctx, t, "the Trace is gone", func() (bool, string) {
		_, err := traces.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// daemonSetBoundingSet returns the capabilities deploy/daemonset.yaml
// gives gadgetd as a setpriv --bounding-set list: "-all,+sys_admin,...".
// It fails the test unless the container drops ALL.
func daemonSetBoundingSet(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "deploy", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ds unstructured.Unstructured
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096).Decode(&ds.Object); err != nil {
		t.Fatalf("deploy/daemonset.yaml: %v", err)
	}
	cs, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("deploy/daemonset.yaml: %d containers, want 1", len(cs))
	}
	drop, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "securityContext", "capabilities", "drop")
	add, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "securityContext", "capabilities", "add")
	if !slices.Contains(drop, "ALL") || len(add) == 0 {
		t.Fatalf("deploy/daemonset.yaml: capabilities drop %v add %v; want drop ALL and the few needed added", drop, add)
	}
	set := "-all"
	for _, c := range add {
		set += ",+" + strings.ToLower(c)
	}
	return set
}

// cluster is the simulated node's control plane.
type cluster struct {
	env *envtest.Environment
	cfg *rest.Config
	cs  kubernetes.Interface
	dyn dynamic.Interface
	// agentKubeconfig authenticates as the deployment's ServiceAccount.
	agentKubeconfig string
}

// startCluster starts a real kube-apiserver and etcd from assets with the
// Trace CRD, applies deploy/namespace.yaml and deploy/rbac.yaml and writes
// gadgetd's kubeconfig; everything stops when the test ends.
func startCluster(ctx context.Context, t *testing.T, assets string) cluster {
	t.Helper()
	crlog.SetLogger(logr.Discard())
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repo, "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	cfg := testenv.StartEnv(t, env)
	c := cluster{env: env, cfg: cfg, cs: kubernetes.NewForConfigOrDie(cfg), dyn: dynamic.NewForConfigOrDie(cfg)}
	for _, f := range []string{"admission.yaml", "namespace.yaml", "rbac.yaml"} {
		applyFile(ctx, t, cfg, c.dyn, filepath.Join(repo, "deploy", f))
	}
	c.agentKubeconfig = serviceAccountKubeconfig(ctx, t, cfg, c.cs)
	return c
}

// poll calls cond every 200 ms until it is true or ctx ends; detail
// describes the last state for the failure message.
func poll(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last: %s", what, ctx.Err(), detail)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// applyFile server-side applies every object of a YAML file.
func applyFile(ctx context.Context, t *testing.T, cfg *rest.Config, dyn dynamic.Interface, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		data, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		force := true
		if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "gadget-e2e", Force: &force}); err != nil {
			t.Fatalf("apply %s %s from %s: %v", u.GetKind(), u.GetName(), path, err)
		}
	}
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// deployment's ServiceAccount gadget/gadget, so gadgetd gets exactly the
// permissions of deploy/rbac.yaml.
func serviceAccountKubeconfig(ctx context.Context, t *testing.T, cfg *rest.Config, cs kubernetes.Interface) string {
	t.Helper()
	exp := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts("gadget").CreateToken(ctx, "gadget",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount gadget/gadget: %v", err)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: gadget
  user:
    token: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: gadget
current-context: e2e
`, cfg.Host, base64.StdEncoding.EncodeToString(cfg.CAData), tok.Status.Token)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// randomSubnets returns two /24s, "10.210.X" and "10.211.X" with a random
// X: not testenv.Link's subnets, which tests running at the same time
// reuse, since gadgetd maps pod IPs over every namespace of the machine.
func randomSubnets(t *testing.T) [2]string {
	t.Helper()
	r := make([]byte, 1)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return [2]string{fmt.Sprintf("10.210.%d", r[0]), fmt.Sprintf("10.211.%d", r[0])}
}

// vethPair joins a and b with a veth pair in subnet (a /24 written
// "10.210.7") and returns the address of each end: .1 in a, .2 in b.
func vethPair(t *testing.T, a, b *testenv.Netns, subnet string) (aIP, bIP string) {
	t.Helper()
	r := make([]byte, 3)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	aIP, bIP = subnet+".1", subnet+".2"
	aDev, bDev := fmt.Sprintf("e2e%x-a", r), fmt.Sprintf("e2e%x-b", r)
	for _, args := range [][]string{
		{"link", "add", aDev, "netns", a.Name(), "type", "veth", "peer", "name", bDev, "netns", b.Name()},
		{"-n", a.Name(), "link", "set", aDev, "up"},
		{"-n", b.Name(), "link", "set", bDev, "up"},
		{"-n", a.Name(), "addr", "add", aIP + "/24", "dev", aDev},
		{"-n", b.Name(), "addr", "add", bIP + "/24", "dev", bDev},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return aIP, bIP
}

func createNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// createPod creates a Running pod on the node with ip, writing its status
// through the status subresource as the kubelet would.
func createPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name, ip string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: name, Image: "example.invalid/" + name + ":1"}},
		},
	}
	got, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	got.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "192.0.2.10", PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status of pod %s/%s: %v", ns, name, err)
	}
}

// startGadgetd runs gadgetd until the test ends and returns the path of
// its log (debug level), which is shown in the test's output.
func startGadgetd(t *testing.T, bin, kubeconfig string, extra ...string) string {
	t.Helper()
	return startGadgetdProcess(t, bin, kubeconfig, extra...).log
}

// gadgetdProcess is a gadgetd that startGadgetdProcess started.
type gadgetdProcess struct {
	log    string
	cmd    *exec.Cmd
	exited chan error
	killed bool
}

// kill sends SIGKILL to gadgetd, as the kernel's OOM killer would, and
// waits for it to exit.
func (g *gadgetdProcess) kill(t *testing.T) {
	t.Helper()
	g.killed = true
	if err := g.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill gadgetd: %v", err)
	}
	<-g.exited
}

// startGadgetdProcess is startGadgetd, returning the process.
func startGadgetdProcess(t *testing.T, bin, kubeconfig string, extra ...string) *gadgetdProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "gadgetd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// No metrics or probe listeners: the host's ports are not ours.
	args := []string{"--node-name", node, "--kubeconfig", kubeconfig, "--log-level", "debug",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0"}
	if !slices.ContainsFunc(extra, func(a string) bool { return strings.HasPrefix(a, "--stream-bind-address") }) {
		args = append(args, "--stream-bind-address", "0")
	}
	// With exactly the DaemonSet's capabilities, as its container has
	// them: every other one dropped from the bounding set, no_new_privs.
	priv := []string{"--bounding-set=" + daemonSetBoundingSet(t), "--inh-caps=-all", "--no-new-privs", "--", bin}
	cmd := exec.Command("setpriv", append(priv, append(args, extra...)...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "NODE_NAME=")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gadgetd: %v", err)
	}
	// hack/e2e.sh kills a gadgetd this test could not stop itself.
	if dir := os.Getenv("E2E_STATE_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "gadgetd.pid"), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644); err != nil {
			t.Errorf("record gadgetd pid: %v", err)
		}
	}
	exited := make(chan error, 1)
	g := &gadgetdProcess{log: logPath, cmd: cmd, exited: make(chan error, 1)}
	go func() {
		err := cmd.Wait()
		exited <- err
		g.exited <- err
	}()
	t.Cleanup(func() {
		if g.killed {
			logf.Close()
			if t.Failed() || testing.Verbose() {
				b, _ := os.ReadFile(logPath)
				t.Logf("log of the gadgetd killed:\n%s", tail(string(b), 100))
			}
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gadgetd exited with %v after SIGTERM", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("gadgetd still running 30s after SIGTERM; killing it")
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() || testing.Verbose() {
			b, _ := os.ReadFile(logPath)
			t.Logf("gadgetd log:\n%s", tail(string(b), 200))
		}
	})
	return g
}

// waitLog waits until a line of the log file at path matches pattern: the
// agent's debug log is the only outside view of when a target is attached.
func waitLog(ctx context.Context, t *testing.T, path, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	poll(ctx, t, "gadgetd log line matching "+pattern, func() (bool, string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error()
		}
		return re.Match(b), "no such line yet"
	})
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

var yamlBlock = regexp.MustCompile("(?s)### Example CR\\s*```yaml\n(.*?)```")

// exampleTrace returns the example CR of docs/gadgets/network-graph.md,
// adapted to this node and the Status output mode.
func exampleTrace(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "gadgets", "network-graph.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := yamlBlock.FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/gadgets/network-graph.md: no Example CR yaml block")
	}
	u := &unstructured.Unstructured{}
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(m[1]), 4096).Decode(&u.Object); err != nil {
		t.Fatalf("example CR: %v", err)
	}
	if err := unstructured.SetNestedField(u.Object, node, "spec", "node"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(u.Object, "Status", "spec", "outputMode"); err != nil {
		t.Fatal(err)
	}
	return u
}

// annotate sets the operation annotation with a merge patch, as kubectl
// annotate does.
func annotate(ctx context.Context, t *testing.T, traces dynamic.ResourceInterface, name, op string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, operation, op)
	if _, err := traces.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("annotate %s=%s: %v", operation, op, err)
	}
}

// waitState waits until gadgetd has handled the operation annotation and
// status.state is state; it fails at once on status.operationError.
func waitState(ctx context.Context, t *testing.T, traces dynamic.ResourceInterface, name, state string) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	poll(ctx, t, "status.state "+state, func() (bool, string) {
		u, err := traces.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		last = u
		if e, _, _ := unstructured.NestedString(u.Object, "status", "operationError"); e != "" {
			t.Fatalf("status.operationError: %s", e)
		}
		_, pending := u.GetAnnotations()[operation]
		got, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return !pending && got == state, fmt.Sprintf("annotation pending %v, state %q", pending, got)
	})
	return last
}

// tcpTraffic opens n connections from client to an echo server in server.
func tcpTraffic(t *testing.T, client, server *testenv.Netns, serverIP string, n int) {
	t.Helper()
	echoTCP(t, client, server, serverIP, serverIP, serverPort, n)
}

// udpTraffic sends n datagrams from client to server, one way, and waits
// until server has read them all.
func udpTraffic(t *testing.T, client, server *testenv.Netns, serverIP string, n int) {
	t.Helper()
	sendUDP(t, client, server, serverIP, udpPort, n)
}
