package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/streamhttp/wire"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// fakeAgent serves the streams of one trace the way gadgetd's stream
// server does: a run's lines for the run's token, 403 for another.
type fakeAgent struct {
	mu    sync.Mutex
	token string        // of the current run
	lines []string      // of the current run
	end   bool          // end each stream after its lines (the agent dies)
	over  chan struct{} // closed when the current run ends
	conns chan string   // the token of each stream served
}

func (a *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	token, lines, end, over := a.token, a.lines, a.end, a.over
	a.mu.Unlock()
	if r.Header.Get(wire.TokenHeader) != token {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	a.conns <- token
	w.Header().Set("Content-Type", wire.MediaType)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	w.(http.Flusher).Flush()
	if !end {
		select {
		case <-r.Context().Done():
		case <-over:
		}
	}
}

func (a *fakeAgent) run(token string, end bool, lines ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token, a.lines, a.end, a.over = token, lines, end, make(chan struct{})
}

// endRun ends the streams of the current run, as the agent does when a
// trace stops.
func (a *fakeAgent) endRun() {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.over)
}

// TestStreamFollowsTheNextRun: a stream that ends while its trace goes
// on (the agent was killed and its successor resumed the trace with a new
// run and token) is followed into the new run, with a warning that names
// the gap; a stream that breaks while the same run goes on is an error
// telling to run the command again, not a silent end or a replay.
func TestStreamFollowsTheNextRun(t *testing.T) {
	_, cfg := testenv.StartAPIServer(t, nil)
	c, err := newClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, stderr, code := cli(t, cfg, "deploy", "--image", "registry.example/gadgetd:v1"); code != 0 {
		t.Fatalf("deploy: %s", stderr)
	}
	tr := &v1alpha1.Trace{
		ObjectMeta: metav1.ObjectMeta{Namespace: "gadget", Name: "follow-node-a", Labels: map[string]string{sessionLabel: "follow"}},
		Spec:       v1alpha1.TraceSpec{Node: "node-a", Gadget: "network-graph", RunMode: v1alpha1.RunModeManual, OutputMode: v1alpha1.OutputModeStream},
	}
	if err := c.ctrl.Create(ctx, tr); err != nil {
		t.Fatal(err)
	}
	setRun := func(token string) {
		t.Helper()
		tr.Status = v1alpha1.TraceStatus{State: v1alpha1.TraceStateStarted, StreamToken: token}
		if token == "run-2" {
			tr.Status.OperationWarning = "agent restarted: edges between 10:00:00 and 10:00:05 may be missing"
		}
		if err := c.ctrl.Status().Update(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	setRun("run-1")

	agent := &fakeAgent{conns: make(chan string, 10)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: agent, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	line := func(port int) string {
		return fmt.Sprintf(`{"node":"node-a","namespace":"demo","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.5","port":%d}`, port)
	}

	t.Run("a new run is followed", func(t *testing.T) {
		agent.run("run-1", true, line(80), line(81))
		type result struct {
			stdout, stderr string
			code           int
		}
		done := make(chan result, 1)
		go func() {
			o, e, code := cli(t, cfg, "network-graph", "stream", "--name", "follow", "--agent-address", ln.Addr().String(), "-o", "jsonl", "--duration", "20s")
			done <- result{o, e, code}
		}()
		if got := <-agent.conns; got != "run-1" {
			t.Fatalf("first stream with token %q", got)
		}
		// The agent is gone; its successor resumes the trace: new token.
		agent.run("run-2", false, line(443))
		setRun("run-2")
		select {
		case got := <-agent.conns:
			if got != "run-2" {
				t.Fatalf("second stream with token %q", got)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the stream of the new run was not opened")
		}
		// Stop the trace: the follower ends.
		tr.Status = v1alpha1.TraceStatus{State: v1alpha1.TraceStateStopped}
		if err := c.ctrl.Status().Update(ctx, tr); err != nil {
			t.Fatal(err)
		}
		agent.endRun()
		r := <-done
		if r.code != 0 {
			t.Fatalf("stream: exit %d, stderr %s", r.code, r.stderr)
		}
		for _, port := range []string{`"port":80`, `"port":81`, `"port":443`} {
			if strings.Count(r.stdout, port+"}")+strings.Count(r.stdout, port+",") != 1 {
				t.Errorf("stdout has %s %d times, want once:\n%s", port, strings.Count(r.stdout, port), r.stdout)
			}
		}
		for _, want := range []string{"following its new run", "events between the two runs are missing", "agent restarted: edges between", "was stopped"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
	})

	t.Run("a broken stream of the same run is an error", func(t *testing.T) {
		setRun("run-3")
		agent.run("run-3", true, line(53))
		start := time.Now()
		stdout, stderr, code := cli(t, cfg, "network-graph", "stream", "--name", "follow", "--agent-address", ln.Addr().String(), "-o", "jsonl", "--duration", "30s")
		if code != 1 || !strings.Contains(stderr, "ended while the run goes on") || !strings.Contains(stderr, "run the command again") {
			t.Errorf("stream: exit %d, stderr %q; want 1 and advice to run it again", code, stderr)
		}
		if strings.Count(stdout, `"port":53`) != 1 {
			t.Errorf("the run's events were repeated or lost:\n%s", stdout)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("gave up after %v, want about %v", d, runSettle)
		}
	})
}

// TestAgentIDOfARestartedContainer: the kubelet restarting the agent's
// container (killed, out of memory) keeps the pod but starts a new agent,
// whose runs a follower must wait for rather than give up on.
func TestAgentIDOfARestartedContainer(t *testing.T) {
	pod := func(restarts int32) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1"},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "gadgetd", RestartCount: restarts}}}}
	}
	if a, b := agentID(pod(0)), agentID(pod(0)); a != b {
		t.Errorf("agentID of the same container differs: %s, %s", a, b)
	}
	if agentID(pod(0)) == agentID(pod(1)) {
		t.Errorf("agentID %s is the same after the container restarted", agentID(pod(1)))
	}
	other := pod(0)
	other.UID = "u2"
	if agentID(other) == agentID(pod(0)) {
		t.Errorf("agentID %s is the same for another pod", agentID(other))
	}
}
