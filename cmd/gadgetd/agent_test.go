package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/controller"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// staticTargets reports a fixed set of targets once, then waits.
type staticTargets []gadget.Target

func (s staticTargets) Watch(ctx context.Context, _ gadget.Filter, update func([]gadget.Target)) error {
	update(s)
	<-ctx.Done()
	return nil
}

// apiServer starts a real API server with the Trace CRD for the test and
// returns its config and a client that knows the Trace type.
func apiServer(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	_, cfg := testenv.StartAPIServer(t, &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(filepath.Dir(file), "..", "..", "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
	})
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
	return cfg, c
}

// runAgent runs the agent (newAgent with o, reg and targets, logging to
// the test) until the test ends, and returns a context that ends with it.
func runAgent(t *testing.T, cfg *rest.Config, o options, reg *registry.Registry, targets controller.TargetSource) context.Context {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := newAgent(cfg, o, log, reg, targets)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return ctx
}

// TestAgentNetworkGraphStatus runs the agent against a real API server with
// the real network-graph gadget on two network namespaces, drives the
// seed's example Trace (in the Status output mode) through start and stop,
// and checks the edges in status.output.
func TestAgentNetworkGraphStatus(t *testing.T) {
	testenv.RequirePrivileged(t)
	cfg, c := apiServer(t)

	clientNs := testenv.NewNetns(t, "client")
	serverNs := testenv.NewNetns(t, "server")
	link := testenv.Link(t, clientNs, serverNs)
	targets := staticTargets{podTarget(t, clientNs, "client"), podTarget(t, serverNs, "server")}

	const node = "node-agent-test"
	ctx := runAgent(t, cfg, options{nodeName: node, metricsAddr: "0", healthAddr: "0"}, registry.Default, targets)

	// The seed's example CR, adapted to this node and the Status mode.
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gadget"}}); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "gadget", Name: "network-graph"}
	if err := c.Create(ctx, &v1alpha1.Trace{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec: v1alpha1.TraceSpec{
			Node: node, Gadget: "network-graph", Filter: &v1alpha1.TraceFilter{Namespace: "demo"},
			RunMode: v1alpha1.RunModeManual, OutputMode: v1alpha1.OutputModeStatus,
			Parameters: map[string]string{"interval": "100ms"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	annotate(t, c, key, "start")
	waitState(t, c, key, v1alpha1.TraceStateStarted)

	serverNs.TCPEchoServer(t, netip.AddrPortFrom(link.B4, 8080).String())
	clientNs.TCPExchange(t, netip.AddrPortFrom(link.B4, 8080).String(), 1000)

	annotate(t, c, key, "stop")
	tr := waitState(t, c, key, v1alpha1.TraceStateStopped)
	if tr.Status.OperationError != "" || tr.Status.OperationWarning != "" {
		t.Errorf("operationError %q, operationWarning %q; want none", tr.Status.OperationError, tr.Status.OperationWarning)
	}
	var events []ngtypes.Event
	if err := json.Unmarshal([]byte(tr.Status.Output), &events); err != nil {
		t.Fatalf("status.output is not a JSON array of events: %v\n%s", err, tr.Status.Output)
	}
	var got []string
	for _, e := range events {
		if !e.IsEdge() {
			t.Errorf("unexpected %s event: %s", e.Type, e.Message)
			continue
		}
		if e.Node != node || e.Namespace != "demo" {
			t.Errorf("edge %s: node %q namespace %q, want %s and demo", e.Key(), e.Node, e.Namespace, node)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s:%d", e.Pod, e.PktType, e.Proto, e.IP, e.Port))
	}
	want := []string{
		fmt.Sprintf("client OUTGOING tcp %s:8080", link.B4),
		fmt.Sprintf("server HOST tcp %s:8080", link.A4),
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("edges in status.output:\n got %q\nwant %q\n%s", got, want, tr.Status.Output)
	}
}

func podTarget(t *testing.T, ns *testenv.Netns, pod string) gadget.Target {
	t.Helper()
	ino, err := containers.NetnsInode(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	return gadget.Target{ID: "demo/" + pod, Namespace: "demo", Pod: pod, NetnsPath: ns.Path(), NetnsInode: ino}
}

func annotate(t *testing.T, c client.Client, key types.NamespacedName, op string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.OperationAnnotation, op)
	tr := &v1alpha1.Trace{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.Patch(context.Background(), tr, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("annotate %s with %s: %v", key, op, err)
	}
}

// waitState polls the trace until its operation annotation is handled and
// its state is want.
func waitState(t *testing.T, c client.Client, key types.NamespacedName, want v1alpha1.TraceState) *v1alpha1.Trace {
	t.Helper()
	var tr v1alpha1.Trace
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Get(context.Background(), key, &tr)
		_, pending := tr.Annotations[v1alpha1.OperationAnnotation]
		if err == nil && !pending && tr.Status.State == want {
			return &tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s not %s within 30s: get error %v, annotations %v, status %+v", key, want, err, tr.Annotations, tr.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testWriter sends the agent's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}
