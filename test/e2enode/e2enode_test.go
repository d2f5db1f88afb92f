//go:build e2enode

// Package e2enode runs gadget end to end on a real single-node cluster:
// kube-apiserver, kubelet, scheduler, controller-manager and kube-proxy,
// containerd with runc and the CNI bridge, and gadgetd running from its
// image as the shipped DaemonSet. hack/e2e-node.sh (make e2e-node) builds
// the images and binaries, starts the cluster (hack/e2e-node/cluster.sh),
// runs this test and restores the host:
//
//	go test -tags e2enode ./test/e2enode -kubectl-gadget bin/kubectl-gadget \
//	    -gadgetd-image REF -traffic-image REF
//
// It drives the cluster with the machine's kubectl and the project's
// kubectl gadget, as a user would.
package e2enode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/test/internal/edgetest"
)

var (
	kubectlGadget = flag.String("kubectl-gadget", "", "kubectl-gadget binary (required)")
	gadgetdImage  = flag.String("gadgetd-image", "", "the image kubectl gadget deploy must run (required)")
	trafficImage  = flag.String("traffic-image", "", "the image of the test workloads, test/e2enode/cmd/traffic (required)")
)

const (
	agentNS   = "gadget"
	shopNS    = "e2e-shop"
	dataNS    = "e2e-data"
	workload  = "gadget-e2e" // label key: every pod the trace watches has it
	svcPort   = 80
	tcpPort   = 8080
	udpPort   = 5353
	session   = "e2e"
	operation = "gadget.kinvolk.io/operation"
)

// env is the cluster under test.
type env struct {
	t       *testing.T
	ctx     context.Context
	cs      kubernetes.Interface
	node    string
	nodeIP  string
	kcfg    string
	tmp     string
	started time.Time
}

// clusterConfig checks what every test of the real node needs (root, the
// flags hack/e2e-node.sh passes; target is the make target that passes
// them), makes -kubectl-gadget absolute and returns $KUBECONFIG and the
// client configuration it holds.
func clusterConfig(t *testing.T, target string) (string, *rest.Config) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root and a cluster: run sudo make " + target)
	}
	for name, v := range map[string]string{"-kubectl-gadget": *kubectlGadget, "-gadgetd-image": *gadgetdImage, "-traffic-image": *trafficImage} {
		if v == "" {
			t.Fatalf("%s is not set: run make %s", name, target)
		}
	}
	kg, err := filepath.Abs(*kubectlGadget)
	if err != nil {
		t.Fatal(err)
	}
	*kubectlGadget = kg
	kcfg := os.Getenv("KUBECONFIG")
	cfg, err := clientcmd.BuildConfigFromFlags("", kcfg)
	if err != nil {
		t.Fatalf("KUBECONFIG %q: %v (hack/e2e-node.sh sets it)", kcfg, err)
	}
	return kcfg, cfg
}

func TestRealNode(t *testing.T) {
	kcfg, cfg := clusterConfig(t, "e2e-node")
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	e := &env{t: t, ctx: ctx, cs: kubernetes.NewForConfigOrDie(cfg), node: os.Getenv("E2E_NODE"),
		nodeIP: os.Getenv("E2E_NODE_IP"), kcfg: kcfg, tmp: t.TempDir(), started: time.Now()}
	if e.node == "" || e.nodeIP == "" {
		t.Fatal("E2E_NODE or E2E_NODE_IP is not set: run make e2e-node")
	}

	before := countBPF(t, true)
	e.step("baseline: %s", before)

	e.step("kubectl gadget deploy (the manifests as shipped, image %s)", *gadgetdImage)
	e.kg("deploy", "--wait-timeout", "2m")
	agent := e.agentPod("")
	if agent.Spec.Containers[0].Image != *gadgetdImage {
		t.Fatalf("gadgetd runs image %q, want %q", agent.Spec.Containers[0].Image, *gadgetdImage)
	}
	e.logf("gadgetd pod %s Ready on %s (pod IP %s), image %s", agent.Name, agent.Spec.NodeName, agent.Status.PodIP, agent.Spec.Containers[0].Image)
	e.kg("version")

	e.step("workloads: %s/client (Deployment) → Service %s/server → %s/server (Deployment); a UDP pair; a hostNetwork pod", shopNS, dataNS, dataNS)
	for _, ns := range []string{shopNS, dataNS} {
		e.kubectl("create", "namespace", ns)
	}
	e.apply(deployment(dataNS, "server", "serve", "-tcp", fmt.Sprintf(":%d", tcpPort)))
	e.apply(service(dataNS, "server"))
	clusterIP := e.clusterIP(dataNS, "server")
	e.apply(pod(dataNS, "udp-server", false, "serve", "-udp", fmt.Sprintf(":%d", udpPort)))
	udpServer := e.waitPod(dataNS, "udp-server")
	e.apply(deployment(shopNS, "client", "client", "-tcp", fmt.Sprintf("%s:%d", clusterIP, svcPort)))
	e.apply(pod(shopNS, "udp-client", false, "client", "-udp", fmt.Sprintf("%s:%d", udpServer.Status.PodIP, udpPort)))
	server := e.waitApp(dataNS, "server")
	e.waitPod(shopNS, "udp-client")
	e.apply(pod(shopNS, "hostnet", true, "client", "-tcp", fmt.Sprintf("%s:%d", server.Status.PodIP, tcpPort)))
	e.waitPod(shopNS, "hostnet")
	client := e.waitApp(shopNS, "client")
	e.checkNetnsOfCNI(agent)

	e.step("kubectl gadget network-graph start, stream")
	e.kg("network-graph", "start", "--name", session, "-l", workload+"=workload", "--interval", "500ms", "--wait-timeout", "60s")
	stream := e.startStream("stream-1.jsonl")
	want := map[string]string{
		fmt.Sprintf("%s/%s OUTGOING tcp %s %d", shopNS, client.Name, clusterIP, svcPort):            "svc " + dataNS + "/server",
		fmt.Sprintf("%s/%s HOST tcp %s %d", dataNS, server.Name, client.Status.PodIP, tcpPort):      "pod " + shopNS + "/" + client.Name,
		fmt.Sprintf("%s/udp-client OUTGOING udp %s %d", shopNS, udpServer.Status.PodIP, udpPort):    "pod " + dataNS + "/udp-server",
		fmt.Sprintf("%s/udp-server HOST udp %s %d", dataNS, e.podIP(shopNS, "udp-client"), udpPort): "pod " + shopNS + "/udp-client",
	}
	edges := stream.waitEdges(want)
	e.checkOwners(edges, map[string]string{client.Name: "Deployment/client", server.Name: "Deployment/server", "udp-server": ""})
	e.checkHostNetworkWarning("hostnet")
	// The hostNetwork pod's connections come from the node: the server sees them.
	e.waitEdgeMatching(stream, regexp.MustCompile(fmt.Sprintf(`^%s/%s HOST tcp \S+ %d$`, dataNS, server.Name, tcpPort)),
		func(ev ngtypes.Event) bool { return ev.IP != client.Status.PodIP })

	e.step("a workload pod deleted mid-trace: its replacement's new network namespace is attached")
	e.kubectl("-n", shopNS, "delete", "pod", client.Name, "--wait=true")
	client2 := e.waitAppNot(shopNS, "client", client.Name)
	stream.waitEdges(map[string]string{
		fmt.Sprintf("%s/%s OUTGOING tcp %s %d", shopNS, client2.Name, clusterIP, svcPort):       "svc " + dataNS + "/server",
		fmt.Sprintf("%s/%s HOST tcp %s %d", dataNS, server.Name, client2.Status.PodIP, tcpPort): "pod " + shopNS + "/" + client2.Name,
	})

	e.step("unauthenticated and unauthorized readers are refused")
	e.checkStreamRefused(agent)

	e.step("Prometheus's view: the metrics over HTTPS, for gadget-metrics-reader only")
	e.checkMetrics(agent)

	e.step("the gadgetd pod deleted mid-trace: the DaemonSet restarts it, the trace resumes, nothing is left behind")
	running := countBPF(t, true)
	e.logf("while tracing: %s", running)
	seen := len(stream.events())
	e.kubectl("-n", agentNS, "delete", "pod", agent.Name, "--wait=true")
	agent2 := e.agentPod(agent.Name)
	e.waitTraceState(session+"-"+e.node, "Started")
	// The stream started before the restart follows the trace's new run.
	e.poll("the running stream follows the trace's new run", 90*time.Second, func() (bool, string) {
		data, _ := os.ReadFile(stream.path)
		if !strings.Contains(string(data), "following its new run") {
			return false, tail(stream.path)
		}
		want := fmt.Sprintf("%s/%s OUTGOING tcp %s %d", shopNS, client2.Name, clusterIP, svcPort)
		for _, ev := range stream.events()[seen:] {
			if edgetest.Key(ev) == want {
				return true, ""
			}
		}
		return false, "no " + want + " since the restart: " + tail(stream.path)
	})
	stream.stop()
	stream2 := e.startStream("stream-2.jsonl")
	stream2.waitEdges(map[string]string{
		fmt.Sprintf("%s/%s OUTGOING tcp %s %d", shopNS, client2.Name, clusterIP, svcPort): "svc " + dataNS + "/server",
	})
	if after := settledBPF(t, running); !after.same(running) {
		t.Errorf("eBPF objects after gadgetd's restart: %s, before it: %s (a leak, or something not re-attached): %s", after, running, after.diff(running))
	}
	stream2.stop()
	show := e.kg("network-graph", "show", "--name", session, "-o", "table")
	for _, w := range []string{"svc " + dataNS + "/server", "pod " + dataNS + "/udp-server"} {
		if !strings.Contains(show, w) {
			t.Errorf("kubectl gadget network-graph show lacks %q", w)
		}
	}
	e.kg("network-graph", "stop", "--name", session, "--wait-timeout", "60s")
	e.logf("gadgetd after its restart: pod %s, RSS %s", agent2.Name, gadgetdRSS())

	e.step("the documentation's example Trace, applied with kubectl and driven by annotations (Status output)")
	e.exampleTrace()

	e.checkDNS()

	e.step("kubectl gadget undeploy leaves nothing behind")
	e.kg("undeploy", "--wait-timeout", "2m")
	e.poll("namespace gadget gone and gadgetd stopped", 2*time.Minute, func() (bool, string) {
		_, err := e.cs.CoreV1().Namespaces().Get(e.ctx, agentNS, metav1.GetOptions{})
		procs := gadgetdProcesses()
		return apierrors.IsNotFound(err) && len(procs) == 0, fmt.Sprintf("namespace: %v; gadgetd processes: %v", err, procs)
	})
	if after := settledBPF(t, before); !after.same(before) {
		t.Errorf("eBPF objects after undeploy: %s, before deploy: %s: %s", after, before, after.diff(before))
	}
	e.logf("done in %s", time.Since(e.started).Round(time.Second))
}

func (e *env) step(format string, args ...any) {
	e.t.Helper()
	e.t.Logf("== [%s] "+format, append([]any{time.Since(e.started).Round(time.Second)}, args...)...)
}

func (e *env) logf(format string, args ...any) {
	e.t.Helper()
	e.t.Logf(format, args...)
}

// run runs a command with the cluster's kubeconfig and fails the test when
// it fails.
func (e *env) run(name string, args ...string) string {
	e.t.Helper()
	out, err := e.try(name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) try(name string, args ...string) (string, error) {
	e.t.Helper()
	cmd := exec.CommandContext(e.ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kcfg)
	out, err := cmd.CombinedOutput()
	e.t.Logf("$ %s %s\n%s", filepath.Base(name), strings.Join(args, " "), strings.TrimRight(string(out), "\n"))
	return string(out), err
}

func (e *env) kubectl(args ...string) string { e.t.Helper(); return e.run("kubectl", args...) }
func (e *env) kg(args ...string) string      { e.t.Helper(); return e.run(*kubectlGadget, args...) }

// apply pipes a manifest into kubectl apply.
func (e *env) apply(manifest string) {
	e.t.Helper()
	cmd := exec.CommandContext(e.ctx, "kubectl", "apply", "-f", "-")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kcfg)
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// poll calls cond every 250 ms until it is true, failing after timeout.
func (e *env) poll(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || e.ctx.Err() != nil {
			e.t.Fatalf("waiting for %s (%s): last: %s", what, timeout, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func ready(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// agentPod waits for a Ready gadgetd pod other than old.
func (e *env) agentPod(old string) *corev1.Pod {
	e.t.Helper()
	var got *corev1.Pod
	e.poll("a Ready gadgetd pod", 3*time.Minute, func() (bool, string) {
		list, err := e.cs.CoreV1().Pods(agentNS).List(e.ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=gadgetd"})
		if err != nil {
			return false, err.Error()
		}
		var states []string
		for i := range list.Items {
			p := &list.Items[i]
			states = append(states, fmt.Sprintf("%s %s ready=%v", p.Name, p.Status.Phase, ready(p)))
			if p.Name != old && ready(p) {
				got = p
				return true, ""
			}
		}
		return false, strings.Join(states, "; ")
	})
	return got
}

func (e *env) waitPod(ns, name string) *corev1.Pod {
	e.t.Helper()
	var got *corev1.Pod
	e.poll("pod "+ns+"/"+name+" Ready", 2*time.Minute, func() (bool, string) {
		p, err := e.cs.CoreV1().Pods(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = p
		return ready(p), string(p.Status.Phase)
	})
	return got
}

// waitApp waits for the Ready pod of a one-replica Deployment app.
func (e *env) waitApp(ns, app string) *corev1.Pod { e.t.Helper(); return e.waitAppNot(ns, app, "") }

func (e *env) waitAppNot(ns, app, old string) *corev1.Pod {
	e.t.Helper()
	var got *corev1.Pod
	e.poll("a Ready pod of "+ns+"/"+app, 2*time.Minute, func() (bool, string) {
		list, err := e.cs.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, err.Error()
		}
		for i := range list.Items {
			if p := &list.Items[i]; p.Name != old && ready(p) {
				got = p
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pods", len(list.Items))
	})
	return got
}

func (e *env) podIP(ns, name string) string {
	e.t.Helper()
	return e.waitPod(ns, name).Status.PodIP
}

func (e *env) clusterIP(ns, name string) string {
	e.t.Helper()
	s, err := e.cs.CoreV1().Services(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return s.Spec.ClusterIP
}

// checkNetnsOfCNI checks the premise of pod discovery on a real CNI:
// containerd names the pods' network namespaces /var/run/netns/cni-*, and
// gadgetd's container sees them through its mount.
func (e *env) checkNetnsOfCNI(agent *corev1.Pod) {
	e.t.Helper()
	names, _ := filepath.Glob("/var/run/netns/cni-*")
	if len(names) == 0 {
		e.t.Fatal("no /var/run/netns/cni-* network namespace: containerd keeps the pods' namespaces elsewhere")
	}
	e.logf("containerd's pod network namespaces: %d under /var/run/netns (cni-*)", len(names))
}

// stream is a running kubectl gadget network-graph stream.
type stream struct {
	e    *env
	path string
	cmd  *exec.Cmd
	done chan error
}

func (e *env) startStream(file string) *stream {
	e.t.Helper()
	return e.startStreamOf("network-graph", session, file)
}

// startStreamOf runs kubectl gadget GADGET stream --name NAME -o jsonl into
// the file.
func (e *env) startStreamOf(gadget, name, file string) *stream {
	e.t.Helper()
	path := filepath.Join(e.tmp, file)
	f, err := os.Create(path)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(*kubectlGadget, gadget, "stream", "--name", name, "-o", "jsonl")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kcfg)
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &stream{e: e, path: path, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); f.Close() }()
	e.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return s
}

func (s *stream) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		s.e.t.Errorf("kubectl gadget %s did not end within 10s of Ctrl-C", strings.Join(s.cmd.Args[1:3], " "))
	}
}

// events reads the edges the stream has written so far.
func (s *stream) events() []ngtypes.Event {
	edges, err := edgetest.ReadEdges(s.path)
	if err != nil {
		s.e.t.Fatal(err)
	}
	return edges
}

// waitEdges waits until every edge of want is in the stream, remote as
// given, and returns the edges seen by key.
func (s *stream) waitEdges(want map[string]string) map[string]ngtypes.Event {
	s.e.t.Helper()
	got := map[string]ngtypes.Event{}
	s.e.poll("the edges in the stream", 90*time.Second, func() (bool, string) {
		for _, ev := range s.events() {
			got[edgetest.Key(ev)] = ev
		}
		var missing []string
		for k, v := range want {
			if ev, ok := got[k]; !ok || edgetest.Remote(ev) != v {
				missing = append(missing, k+" → "+v)
			}
		}
		if len(missing) == 0 {
			return true, ""
		}
		var have []string
		for k, ev := range got {
			have = append(have, k+" → "+edgetest.Remote(ev))
		}
		slices.Sort(have)
		return false, fmt.Sprintf("missing %v; have %v; stream: %s", missing, have, tail(s.path))
	})
	var lines []string
	for k := range want {
		lines = append(lines, fmt.Sprintf("  %-60s %s", k, edgetest.Remote(got[k])))
	}
	slices.Sort(lines)
	s.e.logf("edges checked:\n%s", strings.Join(lines, "\n"))
	return got
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// waitEdgeMatching waits for an edge whose key matches re and that ok accepts.
func (e *env) waitEdgeMatching(s *stream, re *regexp.Regexp, ok func(ngtypes.Event) bool) {
	e.t.Helper()
	e.poll("an edge matching "+re.String(), 60*time.Second, func() (bool, string) {
		for _, ev := range s.events() {
			if re.MatchString(edgetest.Key(ev)) && ok(ev) {
				e.logf("edge: %s → %s", edgetest.Key(ev), edgetest.Remote(ev))
				return true, ""
			}
		}
		return false, tail(s.path)
	})
}

// checkOwners checks podOwner on the edges of the named pods.
func (e *env) checkOwners(edges map[string]ngtypes.Event, want map[string]string) {
	e.t.Helper()
	for pod, owner := range want {
		found := false
		for _, ev := range edges {
			if ev.Pod != pod {
				continue
			}
			found = true
			if ev.PodOwner != owner {
				e.t.Errorf("edge %s: podOwner %q, want %q", edgetest.Key(ev), ev.PodOwner, owner)
			}
			if ev.PodIP == "" || ev.PodHostIP != e.nodeIP || ev.Node != e.node {
				e.t.Errorf("edge %s: podIP %q, podHostIP %q (want %s), node %q (want %s)", edgetest.Key(ev), ev.PodIP, ev.PodHostIP, e.nodeIP, ev.Node, e.node)
			}
			if ev.PodLabels[workload] != "workload" {
				e.t.Errorf("edge %s: podLabels %v lack %s=workload", edgetest.Key(ev), ev.PodLabels, workload)
			}
		}
		if !found {
			e.t.Errorf("no edge of pod %s", pod)
		}
	}
}

// trace reads a Trace with kubectl, as JSON.
func (e *env) trace(name string) map[string]any {
	e.t.Helper()
	out, err := e.try("kubectl", "-n", agentNS, "get", "trace", name, "-o", "json")
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		e.t.Fatalf("trace %s: %v", name, err)
	}
	return m
}

func field(m map[string]any, path ...string) string {
	for i, p := range path {
		v, ok := m[p]
		if !ok {
			return ""
		}
		if i == len(path)-1 {
			s, _ := v.(string)
			return s
		}
		if m, ok = v.(map[string]any); !ok {
			return ""
		}
	}
	return ""
}

// checkHostNetworkWarning: a watched hostNetwork pod is reported in the
// trace's status.operationWarning (its traffic is the node's).
func (e *env) checkHostNetworkWarning(pod string) {
	e.t.Helper()
	name := session + "-" + e.node
	e.poll("status.operationWarning naming the hostNetwork pod", 30*time.Second, func() (bool, string) {
		w := field(e.trace(name), "status", "operationWarning")
		lw := strings.ToLower(w)
		return strings.Contains(w, pod) && (strings.Contains(lw, "host network") || strings.Contains(lw, "hostnetwork")), w
	})
}

func (e *env) waitTraceState(name, state string) {
	e.t.Helper()
	e.poll("trace "+name+" "+state, 2*time.Minute, func() (bool, string) {
		tr := e.trace(name)
		if msg := field(tr, "status", "operationError"); msg != "" {
			return false, "operationError: " + msg
		}
		pending := field(tr, "metadata", "annotations", operation)
		got := field(tr, "status", "state")
		return got == state && pending == "", fmt.Sprintf("state %q, annotation %q pending", got, pending)
	})
}

// checkStreamRefused: nothing of gadgetd listens on the node's address; its
// pod refuses a stream request without the trace's token; a user who may
// not read Traces cannot stream.
func (e *env) checkStreamRefused(agent *corev1.Pod) {
	e.t.Helper()
	for _, port := range []int{7070, 9441, 9442, 8080, 8081} {
		addr := net.JoinHostPort(e.nodeIP, fmt.Sprint(port))
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			e.t.Errorf("%s (the node's address) accepts connections: gadgetd must not listen on the node", addr)
		}
	}
	name := session + "-" + e.node
	url := fmt.Sprintf("http://%s/v1/streams/%s/%s", net.JoinHostPort(agent.Status.PodIP, "7070"), agentNS, name)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			e.t.Errorf("GET %s without a token: %s %s, want 401 or 403", url, resp.Status, body)
		} else {
			e.logf("GET %s without a token: %s", url, resp.Status)
		}
	} else {
		e.logf("GET %s without a token: %v", url, err)
	}

	// alice may proxy to pods in the agent's namespace, but not read Traces.
	e.apply(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: e2e-proxy-only, namespace: gadget}
rules:
- {apiGroups: [""], resources: [pods, pods/proxy, pods/portforward], verbs: [get, list, create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e2e-proxy-only, namespace: gadget}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: e2e-proxy-only}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
`)
	out, err := e.try(*kubectlGadget, "--as", "alice", "network-graph", "show", "--name", session, "-o", "jsonl")
	if err == nil {
		e.t.Errorf("alice, who may not read Traces, read the stream:\n%s", out)
	} else if !strings.Contains(strings.ToLower(out), "forbidden") {
		e.t.Errorf("alice's refusal does not say forbidden:\n%s", out)
	}
	// Through the API server's pods/proxy, which alice may use, the agent
	// still wants the trace's token, which she cannot read.
	// Her proxy works (the agent's /healthz answers), and kubectl reports
	// the agent's 401 as "asked for the client to provide credentials".
	proxy := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:7070/proxy", agentNS, agent.Name)
	e.run("kubectl", "--as", "alice", "get", "--raw", proxy+"/healthz")
	out, err = e.try("kubectl", "--as", "alice", "get", "--raw", fmt.Sprintf("%s/v1/streams/%s/%s?follow=false", proxy, agentNS, name))
	if err == nil {
		e.t.Errorf("alice read the stream through pods/proxy without the token:\n%s", out)
	} else if !strings.Contains(out, "provide credentials") && !strings.Contains(out, "401") {
		e.t.Errorf("alice's pods/proxy request without a token: want the agent's 401, got:\n%s", out)
	}
}

// exampleTrace applies the example CR of docs/gadgets/network-graph.md with
// kubectl (node, filter and output mode adapted), drives it with the
// operation annotation and checks status.output.
func (e *env) exampleTrace() {
	e.t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot(e.t), "docs", "gadgets", "network-graph.md"))
	if err != nil {
		e.t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Example CR\\s*```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		e.t.Fatal("docs/gadgets/network-graph.md: no Example CR")
	}
	cr := string(m[1])
	cr = regexp.MustCompile(`(?m)^  node: .*$`).ReplaceAllString(cr, "  node: "+e.node)
	cr = regexp.MustCompile(`(?m)^    namespace: .*$`).ReplaceAllString(cr, "    namespace: "+dataNS)
	cr = regexp.MustCompile(`(?m)^  outputMode: .*$`).ReplaceAllString(cr, "  outputMode: Status")
	e.apply(cr)
	e.kubectl("annotate", "-n", agentNS, "trace/network-graph", operation+"=start")
	e.waitTraceState("network-graph", "Started")
	time.Sleep(3 * time.Second) // a few of the clients' connections
	e.kubectl("annotate", "-n", agentNS, "trace/network-graph", operation+"=stop", "--overwrite")
	e.waitTraceState("network-graph", "Stopped")
	out := field(e.trace("network-graph"), "status", "output")
	var evs []ngtypes.Event
	if err := json.Unmarshal([]byte(out), &evs); err != nil {
		e.t.Fatalf("status.output is not a JSON array of edges: %v\n%s", err, out)
	}
	var sawServer, sawUDP bool
	for _, ev := range evs {
		if ev.Namespace != dataNS && ev.IsEdge() {
			e.t.Errorf("status.output has an edge of namespace %q, the filter is %s: %s", ev.Namespace, dataNS, edgetest.Key(ev))
		}
		sawServer = sawServer || (ev.PktType == "HOST" && ev.Proto == "tcp" && ev.Port == tcpPort && ev.RemoteKind == "pod")
		sawUDP = sawUDP || (ev.Pod == "udp-server" && ev.Proto == "udp" && ev.RemotePodName == "udp-client")
	}
	if !sawServer || !sawUDP {
		e.t.Errorf("status.output lacks the server's TCP edge (%v) or the UDP server's edge (%v):\n%s", sawServer, sawUDP, out)
	}
	e.logf("status.output: %d edges", len(evs))
	e.kubectl("delete", "-n", agentNS, "trace/network-graph", "--wait=true", "--timeout=60s")
}

func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatalf("no go.mod above %s", wd)
	return ""
}

// bpfCount is how many eBPF programs, maps and links the kernel holds,
// leaving out those another process than gadgetd holds open (a test or a
// benchmark running beside this one): a kernel object gadgetd leaked is held
// by no process at all, or by a gadgetd that should have gone.
type bpfCount struct {
	progs, maps, links int
	// names counts the programs and maps by "prog NAME" or "map NAME", so
	// that a difference says what leaked.
	names map[string]int
}

func (c bpfCount) String() string {
	return fmt.Sprintf("%d eBPF programs, %d maps, %d links", c.progs, c.maps, c.links)
}

func (c bpfCount) same(o bpfCount) bool {
	return c.progs == o.progs && c.maps == o.maps && c.links == o.links
}

// diff lists the names whose counts differ from o's: "+map flows" is one
// more map named flows in c.
func (c bpfCount) diff(o bpfCount) string {
	var out []string
	for k, n := range c.names {
		if d := n - o.names[k]; d != 0 {
			out = append(out, fmt.Sprintf("%+d %s", d, k))
		}
	}
	for k, n := range o.names {
		if _, ok := c.names[k]; !ok {
			out = append(out, fmt.Sprintf("%+d %s", -n, k))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// settledBPF counts like countBPF until the count equals want or 15s pass:
// the kernel frees a closed object after an RCU grace period, and objects a
// test beside this one just closed are held by no process meanwhile. It
// names the objects only once they have settled (see countBPF).
func settledBPF(t *testing.T, want bpfCount) bpfCount {
	t.Helper()
	c := countBPF(t, false)
	for deadline := time.Now().Add(15 * time.Second); !c.same(want) && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		c = countBPF(t, false)
	}
	if c.same(want) {
		return c
	}
	return countBPF(t, true)
}

// countBPF counts the kernel's eBPF objects by walking their ID lists;
// named also opens each program and map by ID to count them by name
// (bpfCount.diff). Never name while a killed gadgetd's maps may be dying:
// reopening a ProgramArray whose last user reference just went makes Linux
// leak it (test/e2e/soak_probe_test.go, bpfIDs.alive).
func countBPF(t *testing.T, named bool) bpfCount {
	t.Helper()
	foreign := foreignBPF()
	c := bpfCount{names: map[string]int{}}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			t.Fatalf("count eBPF programs: %v", err)
		}
		id = next
		if !foreign["prog_id:"+fmt.Sprint(id)] {
			c.progs++
			if named {
				c.names["prog "+progName(id)]++
			}
		}
	}
	for id := ebpf.MapID(0); ; {
		next, err := ebpf.MapGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			t.Fatalf("count eBPF maps: %v", err)
		}
		id = next
		if !foreign["map_id:"+fmt.Sprint(id)] {
			c.maps++
			if named {
				c.names["map "+mapName(id)]++
			}
		}
	}
	it := new(link.Iterator)
	for it.Next() {
		if !foreign["link_id:"+fmt.Sprint(it.ID)] {
			c.links++
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("count eBPF links: %v", err)
	}
	it.Close()
	return c
}

// progName is the name of a program by ID ("?" when it is gone).
func progName(id ebpf.ProgramID) string {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return "?"
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%s (%s)", info.Name, info.Type)
}

// mapName is the name of a map by ID ("?" when it is gone).
func mapName(id ebpf.MapID) string {
	m, err := ebpf.NewMapFromID(id)
	if err != nil {
		return "?"
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%s (%s)", info.Name, info.Type)
}

// foreignBPF returns the eBPF objects ("prog_id:N", "map_id:N",
// "link_id:N") that processes other than gadgetd hold file descriptors of,
// read from /proc/PID/fdinfo; a link's program counts as held too, and so
// do the maps of a held program.
func foreignBPF() map[string]bool {
	held := map[string]bool{}
	gadgetd := map[string]bool{}
	for _, pid := range gadgetdProcesses() {
		gadgetd[pid] = true
	}
	infos, _ := filepath.Glob("/proc/[0-9]*/fdinfo/*")
	for _, f := range infos {
		pid := filepath.Base(filepath.Dir(filepath.Dir(f)))
		if gadgetd[pid] || pid == fmt.Sprint(os.Getpid()) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte("_id:")) {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "prog_id" || k == "map_id" || k == "link_id") {
				held[k+":"+strings.TrimSpace(v)] = true
			}
		}
	}
	// The maps of a program another process holds (its .rodata, say) are
	// that process's too, though it may hold no descriptor of them.
	for k := range held {
		id, ok := strings.CutPrefix(k, "prog_id:")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			continue
		}
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(n))
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil {
			if maps, ok := info.MapIDs(); ok {
				for _, m := range maps {
					held[fmt.Sprintf("map_id:%d", m)] = true
				}
			}
		}
		p.Close()
	}
	return held
}

// gadgetdRSS is the resident memory of the gadgetd processes, from /proc.
func gadgetdRSS() string {
	var out []string
	for _, pid := range gadgetdProcesses() {
		b, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				out = append(out, strings.Join(strings.Fields(line)[1:], " "))
			}
		}
	}
	return strings.Join(out, ", ")
}

// gadgetdProcesses lists the PIDs of running gadgetd processes.
func gadgetdProcesses() []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, f := range dirs {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "gadgetd" {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}

func labels(app string) string {
	return fmt.Sprintf("{app: %s, %s: workload}", app, workload)
}

func container(args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	return fmt.Sprintf(`
      - name: main
        image: %s
        imagePullPolicy: Never
        args: [%s]`, *trafficImage, strings.Join(quoted, ", "))
}

func deployment(ns, app string, args ...string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: %s}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers:%s
`, app, ns, app, labels(app), container(args...))
}

func pod(ns, name string, hostNetwork bool, args ...string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: %s}
spec:
  hostNetwork: %v
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:%s
`, name, ns, labels(name), hostNetwork, container(args...))
}

func service(ns, app string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec:
  selector: {app: %s}
  ports:
  - {port: %d, targetPort: %d, protocol: TCP}
`, app, ns, app, svcPort, tcpPort)
}
