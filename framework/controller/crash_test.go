package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// agentReady returns the AgentReady condition as the agent wrote it.
func agentReady(tr *v1alpha1.Trace) v1alpha1.TraceCondition {
	if c := tr.Status.Condition(v1alpha1.ConditionAgentReady); c != nil {
		return *c
	}
	return v1alpha1.TraceCondition{}
}

// TestHeartbeat checks that the agent writes AgentReady True with its
// interval, renews its heartbeat while it runs, and writes False when it
// stops; a reader takes a heartbeat older than three intervals as
// Unknown.
func TestHeartbeat(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, _ := newProbeRegistry()
	a := startAgent(t, Options{Node: node, Registry: reg, HeartbeatInterval: time.Second})
	key := createTrace(t, c, ns, "beat", v1alpha1.TraceSpec{Node: node, Gadget: "probe"})
	first := waitTrace(t, c, key, "AgentReady True", func(tr *v1alpha1.Trace) bool {
		r := agentReady(tr)
		return r.Status == metav1.ConditionTrue && r.Reason == v1alpha1.ReasonAgentRunning && r.HeartbeatIntervalSeconds == 1
	})
	beat := agentReady(first).LastHeartbeatTime
	renewed := waitTrace(t, c, key, "a renewed heartbeat", func(tr *v1alpha1.Trace) bool {
		return agentReady(tr).LastHeartbeatTime.After(beat.Time)
	})
	if got := agentReady(renewed).LastTransitionTime; !got.Equal(&beat) && got.After(beat.Time) {
		t.Errorf("lastTransitionTime moved with the heartbeat: %v, first heartbeat %v", got, beat)
	}
	if got := v1alpha1.AgentReady(renewed, time.Now()); got.Status != metav1.ConditionTrue {
		t.Errorf("a fresh heartbeat reads %s (%s)", got.Status, got.Message)
	}
	if got := v1alpha1.AgentReady(renewed, time.Now().Add(10*time.Second)); got.Status != metav1.ConditionUnknown ||
		got.Reason != v1alpha1.ReasonHeartbeatStale || !strings.Contains(got.Message, node) {
		t.Errorf("a heartbeat 10 intervals old reads %+v; want Unknown, HeartbeatStale, naming the node", got)
	}

	a.stop(t)
	waitTrace(t, c, key, "AgentReady False once the agent stopped", func(tr *v1alpha1.Trace) bool {
		r := agentReady(tr)
		return r.Status == metav1.ConditionFalse && r.Reason == v1alpha1.ReasonAgentStopped
	})
}

// TestResumeAfterCrash runs a Status-mode trace that records edges,
// checkpointed at each heartbeat; it then leaves on disk what a crash
// (SIGKILL) would leave, the last heartbeat's checkpoint, and starts a new
// agent: the trace resumes, the operationWarning says from when edges may
// be missing, and at stop the output holds the edges recorded before the
// crash and after it.
func TestResumeAfterCrash(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, p := newProbeRegistry()
	dir := t.TempDir()
	opts := Options{Node: node, Registry: reg, HeartbeatInterval: time.Second, CheckpointDir: dir}
	first := startAgent(t, opts)
	key := createTrace(t, c, ns, "crash", v1alpha1.TraceSpec{Node: node, Gadget: "probe", OutputMode: v1alpha1.OutputModeStatus})
	annotate(t, c, key, "start")
	tr := waitTrace(t, c, key, "started", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	ckpt := filepath.Join(dir, string(tr.UID)+checkpointSuffix)

	p.emitNow([]string{"before-crash"})
	var saved []byte
	eventually(t, "a checkpoint holding the edge", func() (bool, string) {
		b, err := os.ReadFile(ckpt)
		saved = b
		return err == nil && bytes.Contains(b, []byte("before-crash")), string(b)
	})
	p.emitNow([]string{"lost-in-crash"})
	first.stop(t)
	// What SIGKILL leaves: the heartbeat's checkpoint, not the one the
	// shutdown wrote, and AgentReady True.
	if err := os.WriteFile(ckpt, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), key, tr); err != nil {
		t.Fatal(err)
	}
	orig := tr.DeepCopy()
	for i := range tr.Status.Conditions {
		tr.Status.Conditions[i].Status = metav1.ConditionTrue
		tr.Status.Conditions[i].Reason = v1alpha1.ReasonAgentRunning
	}
	if err := c.Status().Patch(context.Background(), tr, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}

	startAgent(t, opts)
	resumed := waitTrace(t, c, key, "resumed with a warning", func(tr *v1alpha1.Trace) bool {
		return tr.Status.State == v1alpha1.TraceStateStarted && strings.Contains(tr.Status.OperationWarning, "restarted")
	})
	w := resumed.Status.OperationWarning
	for _, want := range []string{"the node agent restarted and resumed this trace at ", "the output holds what was recorded until the checkpoint of ", "may be missing"} {
		if !strings.Contains(w, want) {
			t.Errorf("operationWarning %q lacks %q", w, want)
		}
	}
	if r := agentReady(resumed); r.Status != metav1.ConditionTrue {
		t.Errorf("AgentReady after the restart: %+v", r)
	}
	p.emitNow([]string{"after-crash"})
	annotate(t, c, key, "stop")
	stopped := waitTrace(t, c, key, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	var edges []string
	if err := json.Unmarshal([]byte(stopped.Status.Output), &edges); err != nil {
		t.Fatalf("status.output: %v: %q", err, stopped.Status.Output)
	}
	if want := []string{"after-crash", "before-crash"}; !slices.Equal(edges, want) {
		t.Errorf("status.output = %q, want %q: the checkpoint's edges and the new ones", edges, want)
	}
	if !strings.Contains(stopped.Status.OperationWarning, "may be missing") {
		t.Errorf("the warning went at stop: %q", stopped.Status.OperationWarning)
	}
	if _, err := os.Stat(ckpt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint of the ended run still there: %v", err)
	}
}

// TestResumeWithoutCheckpoint checks what a resumed trace says when no
// checkpoint keeps its earlier edges: an agent that keeps no checkpoints
// (Status output mode), and a stream, whose readers missed the batches
// while no agent ran.
func TestResumeWithoutCheckpoint(t *testing.T) {
	c := requireCluster(t)
	for _, tc := range []struct {
		mode v1alpha1.OutputMode
		want string
	}{
		{v1alpha1.OutputModeStatus, "are not in the output (the agent keeps no checkpoints"},
		{v1alpha1.OutputModeStream, "were not streamed"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ns := newNamespace(t, c)
			node := ns + "-node"
			reg, _ := newProbeRegistry()
			first := startAgent(t, Options{Node: node, Registry: reg})
			key := createTrace(t, c, ns, "nockpt", v1alpha1.TraceSpec{Node: node, Gadget: "probe", OutputMode: tc.mode})
			annotate(t, c, key, "start")
			waitTrace(t, c, key, "started", func(tr *v1alpha1.Trace) bool {
				return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
			})
			first.stop(t)
			startAgent(t, Options{Node: node, Registry: reg})
			tr := waitTrace(t, c, key, "resumed", func(tr *v1alpha1.Trace) bool {
				return strings.Contains(tr.Status.OperationWarning, "restarted")
			})
			if w := tr.Status.OperationWarning; !strings.Contains(w, tc.want) ||
				!strings.Contains(w, "the previous agent's last heartbeat") {
				t.Errorf("operationWarning = %q, want it to say %q and from when", w, tc.want)
			}
		})
	}
}

// TestScopePolicyRequired checks that an agent with RequireScopePolicy
// starts no trace without the policy of deploy/admission.yaml, nor a
// trace older than it, and starts the others.
func TestScopePolicyRequired(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, p := newProbeRegistry()
	startAgent(t, Options{Node: node, Registry: reg, RequireScopePolicy: true})

	early := createTrace(t, c, ns, "early", v1alpha1.TraceSpec{Node: node, Gadget: "probe"})
	annotate(t, c, early, "start")
	tr := waitTrace(t, c, early, "refused", func(tr *v1alpha1.Trace) bool { return handled(tr) && tr.Status.OperationError != "" })
	if e := tr.Status.OperationError; !strings.Contains(e, "ValidatingAdmissionPolicy gadget-trace-scope is missing") ||
		!strings.Contains(e, "apply deploy/admission.yaml") || tr.Status.State != v1alpha1.TraceStateStopped {
		t.Errorf("without the policy: state %s, operationError %q", tr.Status.State, e)
	}

	// The policy, as shipped. Cluster-scoped: gone when the test ends.
	time.Sleep(1100 * time.Millisecond) // creation times have whole seconds: the trace must be older
	for _, u := range readYAML(t, repoPath("deploy", "admission.yaml")) {
		if err := c.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(context.Background(), u) })
	}
	annotate(t, c, early, "start")
	tr = waitTrace(t, c, early, "refused again", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && strings.Contains(tr.Status.OperationError, "before the scope policy")
	})
	if e := tr.Status.OperationError; !strings.Contains(e, "delete it and create it again") {
		t.Errorf("a trace older than the policy: operationError %q", e)
	}

	late := createTrace(t, c, ns, "late", v1alpha1.TraceSpec{Node: node, Gadget: "probe"})
	annotate(t, c, late, "start")
	tr = waitTrace(t, c, late, "started", func(tr *v1alpha1.Trace) bool { return handled(tr) && tr.Status.State != "" })
	if tr.Status.State != v1alpha1.TraceStateStarted || tr.Status.OperationError != "" {
		t.Errorf("a trace newer than the policy: state %s, operationError %q", tr.Status.State, tr.Status.OperationError)
	}
	if starts, _, _ := p.counts(); starts != 1 {
		t.Errorf("%d starts, want 1", starts)
	}
}

// readYAML decodes every object of a YAML file.
func readYAML(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestStopWhileAgentDown checks that a stop asked while no agent runs is
// carried out by the next agent after it resumed the trace from its
// checkpoint: the output holds what was recorded before.
func TestStopWhileAgentDown(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, p := newProbeRegistry()
	opts := Options{Node: node, Registry: reg, CheckpointDir: t.TempDir()}
	first := startAgent(t, opts)
	key := createTrace(t, c, ns, "down", v1alpha1.TraceSpec{Node: node, Gadget: "probe", OutputMode: v1alpha1.OutputModeStatus})
	annotate(t, c, key, "start")
	waitTrace(t, c, key, "started", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	p.emitNow([]string{"recorded"})
	first.stop(t) // its final checkpoint holds the edge

	annotate(t, c, key, "stop")
	startAgent(t, opts)
	tr := waitTrace(t, c, key, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	if tr.Status.Output == "" || !strings.Contains(tr.Status.Output, `"recorded"`) {
		t.Errorf("status.output = %q, want the edge recorded before the agent stopped", tr.Status.Output)
	}
	if !strings.Contains(tr.Status.OperationWarning, "restarted") || tr.Status.OperationError != "" {
		t.Errorf("operationWarning %q, operationError %q", tr.Status.OperationWarning, tr.Status.OperationError)
	}
}
