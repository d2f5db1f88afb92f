//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

var kubectlGadgetPath = flag.String("kubectl-gadget", "", "kubectl-gadget binary to run (hack/e2e.sh builds it)")

// TestKubectlGadgetStream drives network-graph with the kubectl gadget
// plugin (start, stream, show, stop) on the simulated node, with two
// namespaces of pods behind a "node" router netns that, like kube-proxy,
// translates a Service's ClusterIP to its pod. Every edge must come out
// classified: pod, svc, other with the node's name, other with the address.
func TestKubectlGadgetStream(t *testing.T) {
	testenv.RequirePrivileged(t)
	if *gadgetdPath == "" || *kubectlGadgetPath == "" {
		t.Fatal("-gadgetd or -kubectl-gadget is not set: run make e2e")
	}
	gadgetd, err := filepath.Abs(*gadgetdPath)
	if err != nil {
		t.Fatal(err)
	}
	kg, err := filepath.Abs(*kubectlGadgetPath)
	if err != nil {
		t.Fatal(err)
	}
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
	agentIP := hostLink(t, testenv.NewNetns(t, "e2e-agent"))
	streamAddr := freeAddr(t, agentIP)
	step("starting gadgetd with its stream server on %s, the address of its pod gadget/gadgetd-%s", streamAddr, node)
	startGadgetd(t, gadgetd, agentKubeconfig, "--stream-bind-address", streamAddr)
	_, agentPort, err := net.SplitHostPort(streamAddr)
	if err != nil {
		t.Fatal(err)
	}
	createAgentPod(ctx, t, cs, agentIP)

	kgc := func(args ...string) string {
		t.Helper()
		full := append([]string{"--kubeconfig", userKubeconfig}, args...)
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
	stream := exec.Command(kg, "--kubeconfig", userKubeconfig, "network-graph", "stream", "--agent-port", agentPort, "-o", "jsonl")
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
		for _, e := range readEvents(t, streamFile) {
			if e.IsEdge() {
				got[edgeKey(e)] = remoteOf(e)
			}
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
// returns the address of the host's end (.1 of a random /24), on which
// the API server, a process of the host, reaches a listener of the host.
func hostLink(t *testing.T, ns *testenv.Netns) string {
	t.Helper()
	r := make([]byte, 3)
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	hostDev, peerDev := fmt.Sprintf("e2e%x-h", r), fmt.Sprintf("e2e%x-p", r)
	ip := fmt.Sprintf("10.212.%d.1", r[0])
	run(t, "ip", "link", "add", hostDev, "type", "veth", "peer", "name", peerDev, "netns", ns.Name())
	// Deleting ns deletes the pair too; this is for a test that fails
	// before that.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostDev).Run() })
	run(t, "ip", "addr", "add", ip+"/24", "dev", hostDev)
	run(t, "ip", "link", "set", hostDev, "up")
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

// readEvents reads the JSON lines written so far.
func readEvents(t *testing.T, path string) []ngtypes.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []ngtypes.Event
	for _, line := range strings.Split(string(b), "\n") {
		var e ngtypes.Event
		if json.Unmarshal([]byte(line), &e) == nil {
			events = append(events, e)
		}
	}
	return events
}

func edgeKey(e ngtypes.Event) string {
	return fmt.Sprintf("%s/%s %s %s %s %d", e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, e.Port)
}

func remoteOf(e ngtypes.Event) string {
	switch e.RemoteKind {
	case "pod":
		return "pod " + e.RemotePodNamespace + "/" + e.RemotePodName
	case "svc":
		return "svc " + e.RemoteSvcNamespace + "/" + e.RemoteSvcName
	}
	return e.RemoteKind + " " + e.RemoteOther
}
