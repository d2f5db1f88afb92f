package containers_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// startAPIServer runs etcd and kube-apiserver for the test, with
// controller-runtime's own logs discarded, and returns a client of it.
func startAPIServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	crlog.SetLogger(logr.Discard())
	_, cfg := testenv.StartAPIServer(t, nil)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// addrOnLoopback adds ip/32 to the loopback of ns. Pod addresses live on
// lo rather than on testenv.Link veths, whose subnets other test binaries
// running at the same time reuse: the index scans every namespace of the
// machine, so the addresses must be unique to this test.
func addrOnLoopback(t *testing.T, ns *testenv.Netns, ip string) {
	t.Helper()
	if out, err := exec.Command("ip", "-n", ns.Name(), "addr", "add", ip+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s addr add %s/32 dev lo: %v: %s", ns.Name(), ip, err, out)
	}
}

// uniqueSubnet returns "10.X.Y" with X in 100..199, random per run.
func uniqueSubnet(t *testing.T) string {
	t.Helper()
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("10.%d.%d", 100+int(b[0])%100, b[1])
}

type podSpec struct {
	ns, name, node, ip string
	labels             map[string]string
	hostNetwork        bool
	phase              corev1.PodPhase
}

// createPod creates a pod and sets its status through the status
// subresource, as the kubelet would.
func createPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, p podSpec) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name, Labels: p.labels},
		Spec: corev1.PodSpec{
			NodeName:    p.node,
			HostNetwork: p.hostNetwork,
			Containers:  []corev1.Container{{Name: "main", Image: "example.invalid/main:1"}},
		},
	}
	got, err := cs.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", p.ns, p.name, err)
	}
	phase := p.phase
	if phase == "" {
		phase = corev1.PodRunning
	}
	got.Status = corev1.PodStatus{Phase: phase, HostIP: "192.0.2.1", PodIP: p.ip, PodIPs: []corev1.PodIP{{IP: p.ip}}}
	if _, err := cs.CoreV1().Pods(p.ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of pod %s/%s: %v", p.ns, p.name, err)
	}
}

func createNamespace(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// summary renders targets as "ID@NetnsPath" for comparison.
func summary(ts []gadget.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID+"@"+t.NetnsPath)
	}
	return out
}

// TestPodSourceRealAPIServer runs a PodSource against a real API server
// and real network namespaces: pods of the node in the filter's namespace
// are mapped to the namespace holding their IP; pods of other nodes or
// namespaces, host-network and pending pods are left out; pods added later
// (even before their namespace has the address) and deleted pods show up in
// the next update.
func TestPodSourceRealAPIServer(t *testing.T) {
	testenv.RequirePrivileged(t)
	cs := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const node = "node-1"
	net := uniqueSubnet(t)
	ip := func(n int) string { return fmt.Sprintf("%s.%d", net, n) }
	a, b, c := testenv.NewNetns(t, "pod-a"), testenv.NewNetns(t, "pod-b"), testenv.NewNetns(t, "pod-c")
	addrOnLoopback(t, a, ip(1))
	addrOnLoopback(t, b, ip(2))
	inoA, err := containers.NetnsInode(a.Path())
	if err != nil {
		t.Fatal(err)
	}

	createNamespace(ctx, t, cs, "demo")
	createNamespace(ctx, t, cs, "other")
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "a", node: node, ip: ip(1), labels: map[string]string{"app": "x"}})
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "b", node: node, ip: ip(2)})
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "elsewhere", node: "node-2", ip: ip(2)})
	createPod(ctx, t, cs, podSpec{ns: "other", name: "a", node: node, ip: ip(1)})
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "hostnet", node: node, ip: "192.0.2.1", hostNetwork: true})
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "pending", node: node, ip: ip(1), phase: corev1.PodPending})

	src := containers.NewPodSource(cs, node, nil)
	updates := make(chan []gadget.Target, 100)
	done := make(chan error, 1)
	wctx, stop := context.WithCancel(ctx)
	go func() {
		done <- src.Watch(wctx, gadget.Filter{Namespace: "demo"}, func(ts []gadget.Target) { updates <- ts })
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v after its context ended, want nil", err)
		}
	}()

	// await reads updates until one equals want.
	await := func(step string, want ...string) []gadget.Target {
		t.Helper()
		var last []string
		for {
			select {
			case ts := <-updates:
				last = summary(ts)
				if slices.Equal(last, want) {
					return ts
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: no update with targets\n  %s\nlast update:\n  %s", step, strings.Join(want, "\n  "), strings.Join(last, "\n  "))
			}
		}
	}

	ts := await("initial pods", "demo/a@"+a.Path(), "demo/b@"+b.Path())
	if want := (gadget.Target{ID: "demo/a", Node: node, Namespace: "demo", Pod: "a", NetnsPath: a.Path(), NetnsInode: inoA}); ts[0] != want {
		t.Errorf("target = %+v, want %+v", ts[0], want)
	}

	// A pod whose address is not in any namespace yet is found once it is.
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "c", node: node, ip: ip(3)})
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "d", node: node, ip: ip(4)})
	addrOnLoopback(t, c, ip(4))
	await("pod whose namespace exists", "demo/a@"+a.Path(), "demo/b@"+b.Path(), "demo/d@"+c.Path())
	d := testenv.NewNetns(t, "pod-d")
	addrOnLoopback(t, d, ip(3))
	await("pod whose namespace appears later", "demo/a@"+a.Path(), "demo/b@"+b.Path(), "demo/c@"+d.Path(), "demo/d@"+c.Path())

	// A deleted pod goes away.
	// Grace period 0: no kubelet confirms the end of a graceful deletion.
	if err := cs.CoreV1().Pods("demo").Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	await("pod deleted", "demo/a@"+a.Path(), "demo/c@"+d.Path(), "demo/d@"+c.Path())

	// A pod whose sandbox is recreated with the same IP moves to the new
	// namespace; the kubelet's status update is the pod change that
	// makes the source look again.
	if out, err := exec.Command("ip", "netns", "del", c.Name()).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", c.Name(), err, out)
	}
	e := testenv.NewNetns(t, "pod-e")
	addrOnLoopback(t, e, ip(4))
	patch := []byte(`{"metadata":{"annotations":{"sandbox":"2"}}}`)
	if _, err := cs.CoreV1().Pods("demo").Patch(ctx, "d", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	await("sandbox recreated", "demo/a@"+a.Path(), "demo/c@"+d.Path(), "demo/d@"+e.Path())
}

// TestPodSourceFilters checks the label and container filters against a
// real API server, and that a bad label is refused at once.
func TestPodSourceFilters(t *testing.T) {
	testenv.RequirePrivileged(t)
	cs := startAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const node = "node-1"
	net := uniqueSubnet(t)
	a, b := testenv.NewNetns(t, "pod-a"), testenv.NewNetns(t, "pod-b")
	addrOnLoopback(t, a, net+".1")
	addrOnLoopback(t, b, net+".2")
	createNamespace(ctx, t, cs, "demo")
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "web", node: node, ip: net + ".1", labels: map[string]string{"app": "web"}})
	createPod(ctx, t, cs, podSpec{ns: "demo", name: "db", node: node, ip: net + ".2", labels: map[string]string{"app": "db"}})

	src := containers.NewPodSource(cs, node, nil)
	for _, tc := range []struct {
		name   string
		filter gadget.Filter
		want   []string
	}{
		{"labels", gadget.Filter{Labels: map[string]string{"app": "db"}}, []string{"demo/db@" + b.Path()}},
		{"podname", gadget.Filter{Podname: "web"}, []string{"demo/web@" + a.Path()}},
		{"container", gadget.Filter{Namespace: "demo", ContainerName: "main"}, []string{"demo/db/main@" + b.Path(), "demo/web/main@" + a.Path()}},
		{"no match", gadget.Filter{ContainerName: "nope"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			first := make(chan []gadget.Target, 1)
			done := make(chan error, 1)
			go func() {
				done <- src.Watch(wctx, tc.filter, func(ts []gadget.Target) {
					select {
					case first <- ts:
					default:
					}
				})
			}()
			select {
			case ts := <-first:
				if got := summary(ts); !slices.Equal(got, tc.want) {
					t.Errorf("first update = %v, want %v", got, tc.want)
				}
			case err := <-done:
				t.Fatalf("Watch returned early: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("no first update")
			}
			stop()
			if err := <-done; err != nil {
				t.Errorf("Watch = %v, want nil", err)
			}
		})
	}

	err := src.Watch(ctx, gadget.Filter{Labels: map[string]string{"bad key!": "x"}}, func([]gadget.Target) {})
	if err == nil || !strings.Contains(err.Error(), "spec.filter.labels") {
		t.Errorf("Watch with a bad label = %v, want an error naming spec.filter.labels", err)
	}
}
