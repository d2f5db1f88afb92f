//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/internal/testenv"
	"github.com/gadgetkit/gadget/test/internal/edgetest"
)

var kubectlGadgetPath = flag.String("kubectl-gadget", "", "kubectl-gadget binary to run (hack/e2e.sh builds it)")

// TestKubectlGadgetStream drives network-graph with the kubectl gadget
// plugin (start, stream, show, stop) on the simulated node, with two
// namespaces of pods behind a "node" router netns that, like kube-proxy,
// translates a Service's ClusterIP to its pod. Every edge must come out
// classified: pod, svc, other with the node's name, other with the address.
func TestKubectlGadgetStream(t *testing.T) {
	testenv.RequirePrivileged(t)
	gadgetd := binaryFlag(t, "gadgetd", *gadgetdPath, "make e2e")
	kg := binaryFlag(t, "kubectl-gadget", *kubectlGadgetPath, "make e2e")
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft not found: install Debian's nftables (the router netns translates the ClusterIP with it)")
	}
	assets := testenv.RequireAPIServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	step := func(format string, args ...any) { t.Logf("== "+format, args...) }

	step("starting kube-apiserver and etcd, applying the CRD, namespace and RBAC")
	c := startCluster(ctx, t, assets)
	cs, agentKubeconfig := c.cs, c.agentKubeconfig
	admin, err := c.env.ControlPlane.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	userKubeconfig := filepath.Join(t.TempDir(), "user.kubeconfig")
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(userKubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	step("pods shop/web and data/db-0 behind the router netns of node %s; Service data/db in front of db-0", node)
	router := testenv.NewNetns(t, "e2e-node")
	web, db := testenv.NewNetns(t, "e2e-web"), testenv.NewNetns(t, "e2e-db")
	subnets := randomSubnets(t)
	routerWebIP, webIP := vethPair(t, router, web, subnets[0])
	_, dbIP := vethPair(t, router, db, subnets[1])
	const outsideIP = "10.229.0.1" // an address of the router that is nobody's in the cluster
	run(t, "ip", "-n", web.Name(), "route", "add", "default", "via", routerWebIP)
	run(t, "ip", "-n", db.Name(), "route", "add", "default", "via", subnets[1]+".1")
	run(t, "ip", "-n", router.Name(), "addr", "add", outsideIP+"/32", "dev", "lo")
	run(t, "ip", "netns", "exec", router.Name(), "sysctl", "-qw", "net.ipv4.ip_forward=1")

	for _, ns := range []string{"shop", "data"} {
		createNamespace(ctx, t, cs, ns)
	}
	createPod(ctx, t, cs, "shop", "web", webIP)
	createPod(ctx, t, cs, "data", "db-0", dbIP)
	svc, err := cs.CoreV1().Services("data").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "db-0"}, Ports: []corev1.ServicePort{{Port: 5432}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.Spec.ClusterIP
	nodeObj, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeObj.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: routerWebIP}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, nodeObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// kube-proxy's job: the ClusterIP to the pod, on the node.
	nft := func(args ...string) {
		run(t, "ip", append([]string{"netns", "exec", router.Name(), "nft"}, args...)...)
	}
	nft("add", "table", "ip", "e2e")
	nft("add", "chain", "ip", "e2e", "pre", "{ type nat hook prerouting priority dstnat; }")
	nft("add", "rule", "ip", "e2e", "pre", "ip", "daddr", clusterIP, "tcp", "dport", "5432", "dnat", "to", dbIP+":5432")

	// The API server's pods/proxy refuses loopback addresses, so the
	// agent's "pod IP" is the host's end of a veth pair of its own.
	outsider := testenv.NewNetns(t, "e2e-agent")
	agentIP := hostLink(t, outsider)
	streamAddr := freeAddr(t, agentIP)
	metricsAddr := freeAddr(t, "127.0.0.1")
	step("starting gadgetd with its stream server on %s, the address of its pod gadget/gadgetd-%s, metrics on %s", streamAddr, node, metricsAddr)
	startGadgetd(t, gadgetd, agentKubeconfig, "--stream-bind-address", streamAddr, "--metrics-bind-address", metricsAddr)
	_, agentPort, err := net.SplitHostPort(streamAddr)
	if err != nil {
		t.Fatal(err)
	}
	createAgentPod(ctx, t, cs, agentIP)

	// The user runs kubectl gadget as alice, who has only the shipped
	// ClusterRole gadget-trace-user.
	const user = "alice"
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-alice-traces"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "gadget-trace-user"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	acfg := rest.CopyConfig(c.cfg)
	acfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	poll(ctx, t, user+" can list traces (RBAC cache)", func() (bool, string) {
		_, err := dynamic.NewForConfigOrDie(acfg).Resource(traceGVR).Namespace("gadget").List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
	kgc := func(args ...string) string {
		t.Helper()
		full := append([]string{"--kubeconfig", userKubeconfig, "--as", user}, args...)
		out, err := exec.CommandContext(ctx, kg, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl gadget %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("$ kubectl gadget %s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	kgc("network-graph", "start", "--node", node, "--interval", "500ms", "--wait-timeout", "30s")

	step("kubectl gadget network-graph stream, while web talks to db-0 by pod IP and by ClusterIP %s, and sends UDP to the node and outside", clusterIP)
	streamFile := filepath.Join(t.TempDir(), "stream.jsonl")
	out, err := os.Create(streamFile)
	if err != nil {
		t.Fatal(err)
	}
	// Through the API server's pods/proxy, as a user would (show below
	// reads the agent directly, --agent-address).
	stream := exec.Command(kg, "--kubeconfig", userKubeconfig, "--as", user, "network-graph", "stream", "--agent-port", agentPort, "-o", "jsonl")
	stream.Stdout, stream.Stderr = out, os.Stderr
	if err := stream.Start(); err != nil {
		t.Fatal(err)
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- stream.Wait() }()
	t.Cleanup(func() { _ = stream.Process.Kill() })

	echoTCP(t, web, db, dbIP, dbIP, 5432, 2)
	echoTCP(t, web, db, dbIP, clusterIP, 5432, 2)
	sendUDP(t, web, router, routerWebIP, 53, 1)
	sendUDP(t, web, router, outsideIP, 53, 1)

	want := map[string]string{
		fmt.Sprintf("shop/web OUTGOING tcp %s 5432", dbIP):      "pod data/db-0",
		fmt.Sprintf("shop/web OUTGOING tcp %s 5432", clusterIP): "svc data/db",
		fmt.Sprintf("shop/web OUTGOING udp %s 53", routerWebIP): "other " + node,
		fmt.Sprintf("shop/web OUTGOING udp %s 53", outsideIP):   "other " + outsideIP,
		fmt.Sprintf("data/db-0 HOST tcp %s 5432", webIP):        "pod shop/web",
	}
	got := map[string]string{}
	poll(ctx, t, "every expected edge in the stream", func() (bool, string) {
		edges, err := edgetest.ReadEdges(streamFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range edges {
			got[edgetest.Key(e)] = edgetest.Remote(e)
		}
		for k, v := range want {
			if got[k] != v {
				return false, fmt.Sprintf("want %s → %s, have %v", k, v, got)
			}
		}
		return true, ""
	})
	_ = stream.Process.Signal(syscall.SIGINT)
	select {
	case err := <-streamDone:
		if err != nil {
			t.Errorf("kubectl gadget network-graph stream after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("kubectl gadget network-graph stream did not end within 10s of Ctrl-C")
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected edge in the stream: %s → %s", k, got[k])
		}
	}
	var graph strings.Builder
	for _, k := range slices.Sorted(maps.Keys(got)) {
		fmt.Fprintf(&graph, "  %-45s %s\n", k, got[k])
	}
	t.Logf("== the graph kubectl gadget streamed:\n%s", graph.String())

	step("kubectl gadget network-graph ui: the live page on this machine, fed through the API server")
	checkUI(ctx, t, kg, []string{"--kubeconfig", userKubeconfig, "--as", user}, agentPort,
		func() { echoTCP(t, web, db, dbIP, clusterIP, 5432, 1) },
		fmt.Sprintf("shop/web OUTGOING tcp %s 5432", clusterIP), "svc data/db")

	checkStreamRefused(ctx, t, c, outsider, streamAddr, agentPort, kg, userKubeconfig)
	checkMetricsLoopback(t, outsider, agentIP, metricsAddr)

	step("the second gadget through the same client and agent: kubectl gadget dns start, a query from web to a DNS server in db-0, show, stop")
	checkDNS(ctx, t, kgc, web, db, dbIP, streamAddr)

	step("kubectl gadget network-graph show, then stop")
	show := kgc("network-graph", "show", "--agent-address", streamAddr, "-o", "table")
	for _, w := range []string{"svc data/db", "pod data/db-0", "pod shop/web", outsideIP} {
		if !strings.Contains(show, w) {
			t.Errorf("show lacks %q", w)
		}
	}
	kgc("network-graph", "stop", "--wait-timeout", "30s")
}

// run runs a command and fails the test when it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// freeAddr returns ip with a free TCP port.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// hostLink joins the host's network namespace to ns with a veth pair and
// returns the address of the host's end (.1 of a random /24, ns has .2),
// on which the API server, a process of the host, reaches a listener of
// the host.
func hostLink(t *testing.T, ns *testenv.Netns) string {
	t.Helper()
	r := make([]byte, 3)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	hostDev, peerDev := fmt.Sprintf("e2e%x-h", r), fmt.Sprintf("e2e%x-p", r)
	ip := fmt.Sprintf("10.212.%d.1", r[0])
	peerIP := fmt.Sprintf("10.212.%d.2", r[0])
	run(t, "ip", "link", "add", hostDev, "type", "veth", "peer", "name", peerDev, "netns", ns.Name())
	// Deleting ns deletes the pair too; this is for a test that fails
	// before that.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostDev).Run() })
	run(t, "ip", "addr", "add", ip+"/24", "dev", hostDev)
	run(t, "ip", "link", "set", hostDev, "up")
	run(t, "ip", "-n", ns.Name(), "addr", "add", peerIP+"/24", "dev", peerDev)
	run(t, "ip", "-n", ns.Name(), "link", "set", peerDev, "up")
	return ip
}

// createAgentPod creates the running gadgetd pod of the node, with ip, as
// the DaemonSet's would be: kubectl gadget finds it by its labels and node.
func createAgentPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ip string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "gadget", Name: "gadgetd-" + node, Labels: map[string]string{
			"app.kubernetes.io/name": "gadget", "app.kubernetes.io/component": "gadgetd"}},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "gadgetd", Image: "example.invalid/gadgetd:1"}},
		},
	}
	got, err := cs.CoreV1().Pods("gadget").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the agent pod: %v", err)
	}
	got.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: ip, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if _, err := cs.CoreV1().Pods("gadget").UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status of the agent pod: %v", err)
	}
}

// echoTCP opens n connections from client to dialIP:port, answered by an
// echo server listening on listenIP:port in server.
func echoTCP(t *testing.T, client, server *testenv.Netns, listenIP, dialIP string, port, n int) {
	t.Helper()
	var l net.Listener
	if err := server.Do(func() (err error) {
		l, err = net.Listen("tcp4", net.JoinHostPort(listenIP, fmt.Sprint(port)))
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", server.Name(), err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	for i := range n {
		var c net.Conn
		if err := client.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", net.JoinHostPort(dialIP, fmt.Sprint(port)), 5*time.Second)
			return err
		}); err != nil {
			t.Fatalf("connection %d from %s to %s: %v", i, client.Name(), dialIP, err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("hello %d\n", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got, err := bufio.NewReader(c).ReadString('\n'); err != nil || got != msg {
			t.Fatalf("echo %d via %s: got %q, %v", i, dialIP, got, err)
		}
		c.Close()
	}
}

// sendUDP sends n datagrams from client to ip:port, where server listens,
// and waits for each to arrive.
func sendUDP(t *testing.T, client, server *testenv.Netns, ip string, port, n int) {
	t.Helper()
	var pc net.PacketConn
	if err := server.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(ip, fmt.Sprint(port)))
		return err
	}); err != nil {
		t.Fatalf("listen udp in %s: %v", server.Name(), err)
	}
	defer pc.Close()
	var c net.Conn
	if err := client.Do(func() (err error) {
		c, err = net.Dial("udp4", pc.LocalAddr().String())
		return err
	}); err != nil {
		t.Fatalf("dial udp from %s: %v", client.Name(), err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		if _, err := c.Write([]byte(fmt.Sprintf("datagram %d", i))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := pc.ReadFrom(buf); err != nil {
			t.Fatalf("datagram %d to %s not received: %v", i, ip, err)
		}
	}
}

// checkStreamRefused checks who cannot read the running trace's stream:
// a request from another network namespace straight to the agent without
// the token or with a wrong one, and a user allowed pods/proxy but not to
// get Traces, both through kubectl gadget and through pods/proxy by hand.
func checkStreamRefused(ctx context.Context, t *testing.T, c cluster, outsider *testenv.Netns, streamAddr, agentPort, kg, kubeconfig string) {
	t.Helper()
	step := func(format string, args ...any) { t.Logf("== "+format, args...) }
	traceName := "network-graph-" + node
	path := "/v1/streams/gadget/" + traceName + "?follow=false"
	// The agent's own answers (not the API server's).
	refusals := []struct {
		token string
		code  int
		want  string
	}{
		{"", http.StatusUnauthorized, "no stream token"},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusForbidden, "this token opens no stream"},
	}

	step("from network namespace %s, GET http://%s%s without a token, then with a wrong one", outsider.Name(), streamAddr, path)
	for _, tc := range refusals {
		var code int
		var body []byte
		err := outsider.Do(func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+streamAddr+path, nil)
			if err != nil {
				return err
			}
			if tc.token != "" {
				req.Header.Set("X-Gadget-Stream-Token", tc.token)
			}
			// A client of its own: its dialer must run in this namespace.
			cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := cl.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			code = resp.StatusCode
			body, _ = io.ReadAll(resp.Body)
			return nil
		})
		if err != nil || code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("direct request with token %q: %d %v %q, want %d and no edge", tc.token, code, err, body, tc.code)
		}
	}

	const mallory = "mallory"
	step("user %s may list pods and get pods/proxy in namespace gadget, but not get Traces", mallory)
	if _, err := c.cs.RbacV1().Roles("gadget").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-proxy-only"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.RbacV1().RoleBindings("gadget").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-proxy-only"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "e2e-proxy-only"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: mallory}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mcfg := rest.CopyConfig(c.cfg)
	mcfg.Impersonate = rest.ImpersonationConfig{UserName: mallory}
	mcs := kubernetes.NewForConfigOrDie(mcfg)
	mhttp, err := rest.HTTPClientFor(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	// The RoleBinding takes effect when the API server's RBAC cache has it.
	poll(ctx, t, mallory+" can list the gadgetd pods", func() (bool, string) {
		_, err := mcs.CoreV1().Pods("gadget").List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
	if _, err := dynamic.NewForConfigOrDie(mcfg).Resource(traceGVR).Namespace("gadget").Get(ctx, traceName, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("%s gets trace %s: %v, want Forbidden", mallory, traceName, err)
	}
	for _, tc := range refusals {
		// Plain HTTP through the API server, to see the agent's answer
		// as it is (client-go rewrites a 401's message).
		u := mcs.CoreV1().RESTClient().Get().Namespace("gadget").Resource("pods").SubResource("proxy").
			Name("gadgetd-"+node+":"+agentPort).Suffix("/v1/streams/gadget/"+traceName).Param("follow", "false").URL()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.token != "" {
			req.Header.Set("X-Gadget-Stream-Token", tc.token)
		}
		resp, err := mhttp.Do(req)
		if err != nil {
			t.Fatalf("%s through pods/proxy: %v", mallory, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s through pods/proxy with token %q: %s %q, want %d from the agent", mallory, tc.token, resp.Status, body, tc.code)
		}
	}
	out, err := exec.CommandContext(ctx, kg, "--kubeconfig", kubeconfig, "--as", mallory,
		"network-graph", "show", "--agent-port", agentPort).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "RBAC forbids you to list traces") || strings.Contains(string(out), "pod ") {
		t.Errorf("kubectl gadget network-graph show as %s: %v\n%s\nwant a refusal to list traces and no edge", mallory, err, out)
	} else {
		t.Logf("$ kubectl gadget --as %s network-graph show\n%s", mallory, out)
	}
}

// checkMetricsLoopback checks that gadgetd's metrics answer on loopback,
// with the agent's own (the started trace, its targets and batches), and
// are not reachable on its pod's address from another namespace.
func checkMetricsLoopback(t *testing.T, outsider *testenv.Netns, agentIP, metricsAddr string) {
	t.Helper()
	t.Logf("== metrics on %s: answered there, refused on %s from %s", metricsAddr, agentIP, outsider.Name())
	// The agent's own metrics, read as Prometheus does: the running
	// trace, its pods and batches, and the stream reader that was here.
	f := metricstest.Scrape(t, "http://"+metricsAddr+"/metrics")
	ng := map[string]string{"gadget": "network-graph"}
	for _, m := range []struct {
		name   string
		labels map[string]string
	}{
		{"gadget_traces", map[string]string{"gadget": "network-graph", "state": "Started"}},
		{"gadget_targets_attached", ng},
		{"gadget_attach_duration_seconds", ng},
		{"gadget_batches_total", ng},
		{"gadget_pipeline_stage_duration_seconds", map[string]string{"gadget": "network-graph", "stage": "stream"}},
	} {
		if v, _ := f.Value(m.name, m.labels); v < 1 {
			t.Errorf("gadgetd metrics: %s%v = %v, want at least 1", m.name, m.labels, v)
		}
	}
	if _, ok := f.Value("gadget_stream_readers", nil); !ok {
		t.Error("gadgetd metrics: no gadget_stream_readers")
	}
	_, port, _ := net.SplitHostPort(metricsAddr)
	err := outsider.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(agentIP, port), 5*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Errorf("metrics port %s reachable on the pod address %s from another network namespace", port, agentIP)
	}
}
