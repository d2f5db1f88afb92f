//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestCrashKeepsEdges kills gadgetd with SIGKILL while a Status-mode
// Trace records, as the OOM killer would: the Trace's AgentReady condition
// reads Unknown once its heartbeat is stale, the restarted gadgetd resumes
// the trace from its last checkpoint and says in operationWarning from
// when edges may be missing, and at stop status.output holds the edges
// recorded before the crash and after it.
func TestCrashKeepsEdges(t *testing.T) {
	bin, assets := e2eSetup(t, "make e2e")
	ctx, cancel := e2eContext(3 * time.Minute)
	defer cancel()
	step := func(format string, args ...any) { t.Logf("== "+format, args...) }

	c := startCluster(ctx, t, assets)
	client, server := testenv.NewNetns(t, "e2e-client"), testenv.NewNetns(t, "e2e-server")
	subnets := randomSubnets(t)
	clientIP, serverIP := vethPair(t, client, server, subnets[0])
	createNamespace(ctx, t, c.cs, "demo")
	createPod(ctx, t, c.cs, "demo", "client", clientIP)
	createPod(ctx, t, c.cs, "demo", "server", serverIP)

	dir := t.TempDir()
	args := []string{"--checkpoint-dir", dir, "--heartbeat-interval", "1s"}
	step("starting gadgetd %s", strings.Join(args, " "))
	first := startGadgetdProcess(t, bin, c.agentKubeconfig, args...)

	tr := exampleTrace(t)
	traces := c.dyn.Resource(traceGVR).Namespace(tr.GetNamespace())
	created, err := traces.Create(ctx, tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Trace: %v", err)
	}
	name := tr.GetName()
	annotate(ctx, t, traces, name, "start")
	waitState(ctx, t, traces, name, "Started")

	step("TCP client -> server %s:%d, until a checkpoint holds its edges", serverIP, serverPort)
	tcpTraffic(t, client, server, serverIP, 3)
	ckpt := filepath.Join(dir, string(created.GetUID())+".checkpoint")
	poll(ctx, t, "a checkpoint holding the TCP edge", func() (bool, string) {
		b, err := os.ReadFile(ckpt)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(b), fmt.Sprintf(`"ip":%q,"port":%d`, serverIP, serverPort)), string(b)
	})

	step("SIGKILL gadgetd")
	first.kill(t)
	poll(ctx, t, "AgentReady read as Unknown", func() (bool, string) {
		got := typedTrace(ctx, t, traces, name)
		r := v1alpha1.AgentReady(got, time.Now())
		return r.Status == metav1.ConditionUnknown && r.Reason == v1alpha1.ReasonHeartbeatStale, fmt.Sprintf("%+v", r)
	})
	if got := typedTrace(ctx, t, traces, name); got.Status.State != v1alpha1.TraceStateStarted {
		t.Errorf("state after the crash: %q, want Started for the next agent to resume", got.Status.State)
	}

	step("restarting gadgetd: it resumes the trace from the checkpoint")
	startGadgetdProcess(t, bin, c.agentKubeconfig, args...)
	var resumed *v1alpha1.Trace
	poll(ctx, t, "the trace resumed with a warning", func() (bool, string) {
		resumed = typedTrace(ctx, t, traces, name)
		r := v1alpha1.AgentReady(resumed, time.Now())
		return r.Status == metav1.ConditionTrue && strings.Contains(resumed.Status.OperationWarning, "restarted"),
			fmt.Sprintf("AgentReady %s, warning %q", r.Status, resumed.Status.OperationWarning)
	})
	t.Logf("status.operationWarning: %s", resumed.Status.OperationWarning)
	if w := resumed.Status.OperationWarning; !strings.Contains(w, "the output holds what was recorded until the checkpoint of") {
		t.Errorf("operationWarning %q does not say the checkpoint was restored", w)
	}

	step("UDP client -> server %s:%d after the restart, then stop", serverIP, udpPort)
	udpTraffic(t, client, server, serverIP, 5)
	annotate(ctx, t, traces, name, "stop")
	final := waitState(ctx, t, traces, name, "Stopped")
	out, _, _ := unstructured.NestedString(final.Object, "status", "output")
	var events []ngtypes.Event
	if err := json.Unmarshal([]byte(out), &events); err != nil {
		t.Fatalf("status.output: %v\n%s", err, out)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s/%s %s %s %s %d", e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, e.Port))
	}
	for _, w := range []string{
		fmt.Sprintf("demo/client OUTGOING tcp %s %d", serverIP, serverPort), // before the crash
		fmt.Sprintf("demo/server HOST tcp %s %d", clientIP, serverPort),
		fmt.Sprintf("demo/client OUTGOING udp %s %d", serverIP, udpPort), // after it
		fmt.Sprintf("demo/server HOST udp %s %d", clientIP, udpPort),
	} {
		if !slices.Contains(got, w) {
			t.Errorf("status.output lacks %s; it holds:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if w, _, _ := unstructured.NestedString(final.Object, "status", "operationWarning"); !strings.Contains(w, "may be missing") {
		t.Errorf("operationWarning at stop: %q, want the restart's", w)
	}
	if _, err := os.Stat(ckpt); !os.IsNotExist(err) {
		t.Errorf("the checkpoint of the ended run is still there: %v", err)
	}
}

// typedTrace reads the Trace name as a v1alpha1.Trace.
func typedTrace(ctx context.Context, t *testing.T, traces interface {
	Get(context.Context, string, metav1.GetOptions, ...string) (*unstructured.Unstructured, error)
}, name string) *v1alpha1.Trace {
	t.Helper()
	u, err := traces.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Trace %s: %v", name, err)
	}
	var tr v1alpha1.Trace
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &tr); err != nil {
		t.Fatalf("Trace %s: %v", name, err)
	}
	return &tr
}
