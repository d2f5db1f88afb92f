package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/gadget"
)

// staticTargets is a TargetSource with a fixed set of targets: it reports
// those whose Namespace matches the filter's (all for an empty filter)
// once, then waits. Like a pod source, it rejects a label key with a
// space at once.
type staticTargets []gadget.Target

func (s staticTargets) Watch(ctx context.Context, f gadget.Filter, update func([]gadget.Target)) error {
	for k := range f.Labels {
		if strings.Contains(k, " ") {
			return fmt.Errorf("spec.filter.labels: key %q: invalid", k)
		}
	}
	var out []gadget.Target
	for _, t := range s {
		if f.Namespace == "" || f.Namespace == t.Namespace {
			out = append(out, t)
		}
	}
	update(out)
	<-ctx.Done()
	return nil
}

// createTrace creates a Trace called name in ns with spec.
func createTrace(t *testing.T, c client.Client, ns, name string, spec v1alpha1.TraceSpec) types.NamespacedName {
	t.Helper()
	tr := &v1alpha1.Trace{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	if err := c.Create(context.Background(), tr); err != nil {
		t.Fatalf("create trace %s/%s: %v", ns, name, err)
	}
	return types.NamespacedName{Namespace: ns, Name: name}
}

func TestStartStopStatusOutput(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, p := newProbeRegistry()
	a := startAgent(t, Options{Node: node, Registry: reg, Targets: staticTargets{
		{ID: "pod-a", Namespace: "demo", Pod: "a", NetnsPath: "/a"},
		{ID: "pod-b", Namespace: "other", Pod: "b", NetnsPath: "/b"},
	}})
	key := createTrace(t, c, ns, "graph", v1alpha1.TraceSpec{
		Node: node, Gadget: "probe", OutputMode: v1alpha1.OutputModeStatus,
		Filter:     &v1alpha1.TraceFilter{Namespace: "demo"},
		Parameters: map[string]string{"edges": "3"},
	})
	tr := waitTrace(t, c, key, "Stopped with the finalizer", func(tr *v1alpha1.Trace) bool {
		return tr.Status.State == v1alpha1.TraceStateStopped && controllerutil.ContainsFinalizer(tr, Finalizer)
	})
	if tr.Spec.RunMode != v1alpha1.RunModeManual {
		t.Errorf("spec.runMode defaulted to %q, want Manual", tr.Spec.RunMode)
	}
	if starts, _, _ := p.counts(); starts != 0 {
		t.Fatalf("a Manual trace started %d times before any operation", starts)
	}

	annotate(t, c, key, "start")
	tr = waitTrace(t, c, key, "started, annotation removed", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	if tr.Status.OperationError != "" {
		t.Errorf("operationError = %q after start", tr.Status.OperationError)
	}
	if starts, _, running := p.counts(); starts != 1 || running != 1 {
		t.Errorf("after start: %d starts, %d running, want 1 and 1", starts, running)
	}
	if got := p.targetIDs(); !slices.Equal(got, []string{"pod-a"}) {
		t.Errorf("targets = %v, want [pod-a] (the filter's namespace only)", got)
	}

	annotate(t, c, key, "stop")
	tr = waitTrace(t, c, key, "stopped, annotation removed", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	var edges []string
	if err := json.Unmarshal([]byte(tr.Status.Output), &edges); err != nil {
		t.Fatalf("status.output %q is not a JSON array: %v", tr.Status.Output, err)
	}
	want := []string{"edge-0000", "edge-0001", "edge-0002", "target:pod-a"}
	if !slices.Equal(edges, want) {
		t.Errorf("status.output edges = %v, want %v", edges, want)
	}
	if tr.Status.OperationError != "" || tr.Status.OperationWarning != "" {
		t.Errorf("after stop: operationError %q, operationWarning %q, want none", tr.Status.OperationError, tr.Status.OperationWarning)
	}
	if _, stops, running := p.counts(); stops != 1 || running != 0 {
		t.Errorf("after stop: %d stops, %d running, want 1 and 0", stops, running)
	}

	// Reconciling again changes nothing.
	for range 2 {
		if _, err := a.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("reconcile again: %v", err)
		}
	}
	var again v1alpha1.Trace
	if err := c.Get(context.Background(), key, &again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != tr.ResourceVersion {
		t.Errorf("reconciling a handled trace changed it: resourceVersion %s -> %s, status %+v",
			tr.ResourceVersion, again.ResourceVersion, again.Status)
	}
	if starts, stops, _ := p.counts(); starts != 1 || stops != 1 {
		t.Errorf("reconciling a handled trace: %d starts, %d stops, want 1 and 1", starts, stops)
	}

	// Starting again clears the previous output.
	annotate(t, c, key, "start")
	tr = waitTrace(t, c, key, "started again", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	if tr.Status.Output != "" {
		t.Errorf("status.output = %q after a new start, want empty", tr.Status.Output)
	}
}

// staleReader serves one old version of a trace, as an informer cache that
// has not yet seen the latest changes does; everything else goes to the
// API server.
type staleReader struct {
	client.Client
	stale *v1alpha1.Trace
}

func (s staleReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if tr, ok := obj.(*v1alpha1.Trace); ok && key == client.ObjectKeyFromObject(s.stale) {
		s.stale.DeepCopyInto(tr)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// A reconcile that reads the version of a trace whose operation it has
// carried out already, from a cache that has not seen the annotation go,
// does not carry it out again; it still removes the annotation.
func TestOperationRunsOnce(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, p := newProbeRegistry()
	r, err := New(Options{Node: node, Registry: reg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.releaseAll(context.Background()) })
	key := createTrace(t, c, ns, "graph", v1alpha1.TraceSpec{Node: node, Gadget: "probe", OutputMode: v1alpha1.OutputModeStatus})
	// No manager: the reconciles below are the only ones, run by hand.
	reconcile := func(from client.Client) {
		t.Helper()
		r.client = from
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	reconcile(c) // the finalizer, and Stopped
	for _, step := range []struct {
		op    string
		state v1alpha1.TraceState
	}{{"start", v1alpha1.TraceStateStarted}, {"stop", v1alpha1.TraceStateStopped}} {
		annotate(t, c, key, step.op)
		var asked v1alpha1.Trace
		if err := c.Get(context.Background(), key, &asked); err != nil {
			t.Fatal(err)
		}
		reconcile(c)
		reconcile(staleReader{Client: c, stale: &asked})
		if n := p.operations(step.op); n != 1 {
			t.Errorf("%s carried out %d times, want once", step.op, n)
		}
		var tr v1alpha1.Trace
		if err := c.Get(context.Background(), key, &tr); err != nil {
			t.Fatal(err)
		}
		if !handled(&tr) || tr.Status.State != step.state {
			t.Errorf("after %s: annotations %v, state %q; want no operation annotation and %q", step.op, tr.Annotations, tr.Status.State, step.state)
		}
	}

	// Had removing the annotation failed, the next reconcile reads the
	// same version again: it removes the annotation and writes the status,
	// without carrying the operation out again.
	annotate(t, c, key, "start")
	r.client = failingRemoval{c}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key}); err == nil {
		t.Fatal("reconcile whose annotation removal failed: no error, want one")
	}
	reconcile(c)
	if n := p.operations("start"); n != 2 {
		t.Errorf("start carried out %d times over two asks, want 2", n)
	}
	var tr v1alpha1.Trace
	if err := c.Get(context.Background(), key, &tr); err != nil {
		t.Fatal(err)
	}
	if !handled(&tr) || tr.Status.State != v1alpha1.TraceStateStarted {
		t.Errorf("after the retried start: annotations %v, state %q; want no operation annotation and Started", tr.Annotations, tr.Status.State)
	}

	// Asking again is a new request, carried out (on a started trace,
	// start changes nothing).
	annotate(t, c, key, "start")
	reconcile(c)
	if n := p.operations("start"); n != 3 {
		t.Errorf("start carried out %d times over three asks, want 3", n)
	}
}

// failingRemoval fails every JSON patch, as the operation annotation's
// removal is sent.
type failingRemoval struct{ client.Client }

func (f failingRemoval) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if patch.Type() == types.JSONPatchType {
		return errors.New("injected: the API server is unavailable")
	}
	return f.Client.Patch(ctx, obj, patch, opts...)
}

func TestStatusOutputTruncated(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, _ := newProbeRegistry()
	const limit = 200
	startAgent(t, Options{Node: node, Registry: reg, MaxStatusOutput: limit})
	key := createTrace(t, c, ns, "big", v1alpha1.TraceSpec{
		Node: node, Gadget: "probe", OutputMode: v1alpha1.OutputModeStatus, RunMode: v1alpha1.RunModeAuto,
		Parameters: map[string]string{"edges": "100"},
	})
	waitTrace(t, c, key, "started", func(tr *v1alpha1.Trace) bool { return tr.Status.State == v1alpha1.TraceStateStarted })
	annotate(t, c, key, "stop")
	tr := waitTrace(t, c, key, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	if len(tr.Status.Output) > limit {
		t.Errorf("status.output is %d bytes, over the %d limit", len(tr.Status.Output), limit)
	}
	var edges []string
	if err := json.Unmarshal([]byte(tr.Status.Output), &edges); err != nil {
		t.Fatalf("truncated status.output %q is not a JSON array: %v", tr.Status.Output, err)
	}
	if len(edges) == 0 || edges[0] != "edge-0000" {
		t.Errorf("truncated output keeps %v, want the first edges", edges)
	}
	wantWarn := fmt.Sprintf("first %d of 100 edges (%d edges left out)", len(edges), 100-len(edges))
	if !strings.Contains(tr.Status.OperationWarning, wantWarn) {
		t.Errorf("operationWarning = %q, want it to contain %q", tr.Status.OperationWarning, wantWarn)
	}
}

func TestStreamMode(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, _ := newProbeRegistry()
	a := startAgent(t, Options{Node: node, Registry: reg})
	key := createTrace(t, c, ns, "stream", v1alpha1.TraceSpec{
		Node: node, Gadget: "probe", OutputMode: v1alpha1.OutputModeStream, RunMode: v1alpha1.RunModeAuto,
		Parameters: map[string]string{"edges": "2"},
	})
	started := waitTrace(t, c, key, "started with a stream token", func(tr *v1alpha1.Trace) bool {
		return tr.Status.State == v1alpha1.TraceStateStarted && tr.Status.StreamToken != ""
	})
	token := started.Status.StreamToken
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) < 32 {
		t.Errorf("status.streamToken %q: want base64url of at least 256 bits (decoded %d bytes, %v)", token, len(raw), err)
	}
	ring, ok := a.r.Stream(key)
	if !ok {
		t.Fatal("Stream of a started Stream trace: not ok")
	}
	batches, next := ring.Since(0, 0)
	if len(batches) != 0 {
		t.Fatalf("Stream before any batch = %v; want no batch", batches)
	}
	if ring.Token() != token {
		t.Errorf("Stream's token differs from status.streamToken")
	}
	annotate(t, c, key, "stop")
	tr := waitTrace(t, c, key, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	if tr.Status.Output != "" {
		t.Errorf("status.output = %q in Stream mode, want empty", tr.Status.Output)
	}
	if tr.Status.StreamToken != token {
		t.Errorf("status.streamToken changed on stop; want the run's token kept for its last batches")
	}
	<-next
	ring, ok = a.r.Stream(key)
	if ok {
		batches, _ = ring.Since(0, 0)
	}
	if !ok || len(batches) != 1 || batches[0].Seq != 1 || string(batches[0].Data) != "\"edge-0000\"\n\"edge-0001\"\n" {
		t.Errorf("Stream after stop = %+v, ok %v; want the final batch", batches, ok)
	}
	if _, ok := a.r.Stream(types.NamespacedName{Namespace: ns, Name: "nope"}); ok {
		t.Error("Stream of an unknown trace: ok")
	}

	// A new run gets a new token: the old one reads nothing any more.
	annotate(t, c, key, "start")
	restarted := waitTrace(t, c, key, "started again", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	if restarted.Status.StreamToken == "" || restarted.Status.StreamToken == token {
		t.Errorf("status.streamToken after a restart = %q; want a new token", restarted.Status.StreamToken)
	}
	if ring, _ := a.r.Stream(key); ring.Token() != restarted.Status.StreamToken {
		t.Errorf("Stream's token after a restart differs from status.streamToken")
	}
}

func TestAutoRunMode(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, p := newProbeRegistry()
	startAgent(t, Options{Node: node, Registry: reg})
	key := createTrace(t, c, ns, "auto", v1alpha1.TraceSpec{Node: node, Gadget: "probe", RunMode: v1alpha1.RunModeAuto})
	tr := waitTrace(t, c, key, "started without an annotation", func(tr *v1alpha1.Trace) bool {
		return tr.Status.State == v1alpha1.TraceStateStarted
	})
	if tr.Status.OperationError != "" {
		t.Errorf("operationError = %q", tr.Status.OperationError)
	}
	if starts, _, running := p.counts(); starts != 1 || running != 1 {
		t.Errorf("%d starts, %d running, want 1 and 1", starts, running)
	}
}

func TestOperationErrors(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, p := newProbeRegistry()
	startAgent(t, Options{Node: node, Registry: reg, Targets: staticTargets{}})
	tests := []struct {
		name string
		spec v1alpha1.TraceSpec
		op   string
		want []string
	}{
		{name: "unknown-gadget", spec: v1alpha1.TraceSpec{Gadget: "nope"}, op: "start",
			want: []string{`spec.gadget "nope"`, "gadget not found", "probe"}},
		{name: "unknown-operation", spec: v1alpha1.TraceSpec{Gadget: "probe"}, op: "explode",
			want: []string{`operation "explode"`, "unknown operation", "start stop"}},
		{name: "unsupported-output-mode", spec: v1alpha1.TraceSpec{Gadget: "probe-stream", OutputMode: v1alpha1.OutputModeStatus},
			op: "start", want: []string{"spec.outputMode Status", "unsupported output mode", "[Stream]"}},
		{name: "output-mode-file", spec: v1alpha1.TraceSpec{Gadget: "probe", OutputMode: v1alpha1.OutputModeFile},
			op: "start", want: []string{"spec.outputMode File", "not supported"}},
		{name: "bad-parameter", spec: v1alpha1.TraceSpec{Gadget: "probe", Parameters: map[string]string{"bogus": "1"}},
			op: "start", want: []string{"spec.parameters", `parameter "bogus"`, "probe accepts edges"}},
		{name: "bad-parameter-value", spec: v1alpha1.TraceSpec{Gadget: "probe", Parameters: map[string]string{"edges": "many"}},
			op: "start", want: []string{"spec.parameters", `edges "many"`}},
		{name: "bad-capability-value", spec: v1alpha1.TraceSpec{Gadget: "probe", Parameters: map[string]string{"dns-names": "maybe"}},
			op: "start", want: []string{"spec.parameters", `dns-names="maybe"`, "true or false"}},
		{name: "bad-filter", spec: v1alpha1.TraceSpec{Gadget: "probe", Filter: &v1alpha1.TraceFilter{Labels: map[string]string{"bad key": "x"}}},
			op: "start", want: []string{"watch the pods of spec.filter", `key "bad key"`}},
	}
	keys := map[string]types.NamespacedName{}
	for _, tt := range tests {
		spec := tt.spec
		spec.Node = node
		keys[tt.name] = createTrace(t, c, ns, tt.name, spec)
		annotate(t, c, keys[tt.name], tt.op)
	}
	// The framework's parameter (a capability probe Uses) is not the
	// gadget's to judge: the trace starts.
	good := createTrace(t, c, ns, "good", v1alpha1.TraceSpec{Node: node, Gadget: "probe", Parameters: map[string]string{"dns-names": "true"}})
	annotate(t, c, good, "start")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := waitTrace(t, c, keys[tt.name], "an operation error", func(tr *v1alpha1.Trace) bool {
				return handled(tr) && tr.Status.OperationError != ""
			})
			for _, w := range tt.want {
				if !strings.Contains(tr.Status.OperationError, w) {
					t.Errorf("operationError %q does not contain %q", tr.Status.OperationError, w)
				}
			}
			if tr.Status.State != v1alpha1.TraceStateStopped {
				t.Errorf("state = %q, want Stopped", tr.Status.State)
			}
		})
	}
	tr := waitTrace(t, c, good, "the good trace started", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	if tr.Status.OperationError != "" {
		t.Errorf("good trace: operationError %q", tr.Status.OperationError)
	}
	if starts, _, running := p.counts(); starts != 1 || running != 1 {
		t.Errorf("%d starts, %d running, want only the good trace's", starts, running)
	}

	// Fixing the spec makes the next operation work.
	bad := keys["unknown-gadget"]
	var fix v1alpha1.Trace
	if err := c.Get(context.Background(), bad, &fix); err != nil {
		t.Fatal(err)
	}
	orig := fix.DeepCopy()
	fix.Spec.Gadget = "probe"
	if err := c.Patch(context.Background(), &fix, client.MergeFrom(orig)); err != nil {
		t.Fatal(err)
	}
	annotate(t, c, bad, "start")
	waitTrace(t, c, bad, "started once fixed", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted && tr.Status.OperationError == ""
	})
}

func TestDeleteStopsTrace(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, p := newProbeRegistry()
	startAgent(t, Options{Node: node, Registry: reg})
	key := createTrace(t, c, ns, "doomed", v1alpha1.TraceSpec{Node: node, Gadget: "probe", RunMode: v1alpha1.RunModeAuto})
	tr := waitTrace(t, c, key, "started", func(tr *v1alpha1.Trace) bool { return tr.Status.State == v1alpha1.TraceStateStarted })
	if !controllerutil.ContainsFinalizer(tr, Finalizer) {
		t.Fatalf("finalizers = %v, want %s", tr.Finalizers, Finalizer)
	}
	if err := c.Delete(context.Background(), tr); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the trace to be gone", func() (bool, string) {
		err := c.Get(context.Background(), key, &v1alpha1.Trace{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})
	if starts, stops, running := p.counts(); starts != 1 || stops != 1 || running != 0 {
		t.Errorf("after delete: %d starts, %d stops, %d running; want 1, 1, 0", starts, stops, running)
	}
}

func TestOtherNodeIgnored(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, p := newProbeRegistry()
	startAgent(t, Options{Node: node, Registry: reg})
	other := createTrace(t, c, ns, "other", v1alpha1.TraceSpec{Node: "node-elsewhere", Gadget: "probe", RunMode: v1alpha1.RunModeAuto})
	annotate(t, c, other, "start")
	mine := createTrace(t, c, ns, "mine", v1alpha1.TraceSpec{Node: node, Gadget: "probe"})
	annotate(t, c, mine, "start")
	// Once the later trace of this node is handled, the earlier one of
	// another node has been seen by the same watch and ignored.
	waitTrace(t, c, mine, "started", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	var tr v1alpha1.Trace
	if err := c.Get(context.Background(), other, &tr); err != nil {
		t.Fatal(err)
	}
	if handled(&tr) || len(tr.Finalizers) > 0 || !equality.Semantic.DeepEqual(tr.Status, v1alpha1.TraceStatus{}) {
		t.Errorf("another node's trace was touched: annotations %v, finalizers %v, status %+v", tr.Annotations, tr.Finalizers, tr.Status)
	}
	if starts, _, _ := p.counts(); starts != 1 {
		t.Errorf("%d starts, want 1 (this node's trace only)", starts)
	}
}

func TestRestartResumesStartedTraces(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node" // unique across -count runs
	reg, p := newProbeRegistry()
	first := startAgent(t, Options{Node: node, Registry: reg})
	started := createTrace(t, c, ns, "started", v1alpha1.TraceSpec{Node: node, Gadget: "probe"})
	stopped := createTrace(t, c, ns, "stopped", v1alpha1.TraceSpec{Node: node, Gadget: "probe"})
	annotate(t, c, started, "start")
	waitTrace(t, c, started, "started", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStarted
	})
	waitTrace(t, c, stopped, "stopped", func(tr *v1alpha1.Trace) bool { return tr.Status.State == v1alpha1.TraceStateStopped })

	first.stop(t)
	if starts, stops, running := p.counts(); starts != 1 || stops != 1 || running != 0 {
		t.Fatalf("after the agent stopped: %d starts, %d stops, %d running; want 1, 1, 0 (kernel objects released)", starts, stops, running)
	}
	var tr v1alpha1.Trace
	if err := c.Get(context.Background(), started, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Status.State != v1alpha1.TraceStateStarted {
		t.Fatalf("state = %q after the agent stopped, want Started kept for the next agent", tr.Status.State)
	}

	startAgent(t, Options{Node: node, Registry: reg})
	eventually(t, "the started trace to run again", func() (bool, string) {
		starts, _, running := p.counts()
		return starts == 2 && running == 1, fmt.Sprintf("%d starts, %d running", starts, running)
	})
	if err := c.Get(context.Background(), started, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Status.State != v1alpha1.TraceStateStarted || tr.Status.OperationError != "" {
		t.Errorf("after resumption: status %+v", tr.Status)
	}
	if err := c.Get(context.Background(), stopped, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Status.State != v1alpha1.TraceStateStopped {
		t.Errorf("the stopped trace: state %q, want Stopped", tr.Status.State)
	}
}

func TestCRDValidation(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	tests := []struct {
		name string
		obj  string
		want string
	}{
		{name: "bad-run-mode", obj: `{"spec":{"gadget":"probe","runMode":"Sometimes"}}`, want: "spec.runMode"},
		{name: "bad-output-mode", obj: `{"spec":{"gadget":"probe","outputMode":"Printer"}}`, want: "spec.outputMode"},
		{name: "missing-gadget", obj: `{"spec":{"node":"n"}}`, want: "spec.gadget"},
		{name: "missing-node", obj: `{"spec":{"gadget":"probe"}}`, want: "spec.node"},
		{name: "empty-node", obj: `{"spec":{"gadget":"probe","node":""}}`, want: "spec.node"},
		{name: "empty-gadget", obj: `{"spec":{"gadget":""}}`, want: "spec.gadget"},
		{name: "missing-spec", obj: `{}`, want: "spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Send the JSON as written: the typed client would add the
			// required fields back.
			u := map[string]any{}
			if err := json.Unmarshal([]byte(tt.obj), &u); err != nil {
				t.Fatal(err)
			}
			err := createRaw(c, ns, tt.name, u)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: err = %v, want Invalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

// createRaw creates a Trace from obj as it is, through the unstructured
// client.
func createRaw(c client.Client, ns, name string, obj map[string]any) error {
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Trace"))
	u.SetNamespace(ns)
	u.SetName(name)
	return c.Create(context.Background(), u)
}

// liveTargets is a TargetSource whose sets a test sends, one at a time;
// every Watch reports the latest set first.
type liveTargets struct {
	sets chan []gadget.Target
}

func (l *liveTargets) Watch(ctx context.Context, _ gadget.Filter, update func([]gadget.Target)) error {
	update(nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case set := <-l.sets:
			update(set)
		}
	}
}

func TestTargetsFollowedLive(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, p := newProbeRegistry()
	src := &liveTargets{sets: make(chan []gadget.Target)}
	startAgent(t, Options{Node: node, Registry: reg, Targets: src})
	key := createTrace(t, c, ns, "live", v1alpha1.TraceSpec{
		Node: node, Gadget: "probe", RunMode: v1alpha1.RunModeAuto, OutputMode: v1alpha1.OutputModeStatus,
	})
	waitTrace(t, c, key, "started", func(tr *v1alpha1.Trace) bool { return tr.Status.State == v1alpha1.TraceStateStarted })
	a := gadget.Target{ID: "demo/a", Namespace: "demo", Pod: "a", NetnsPath: "/a"}
	b := gadget.Target{ID: "demo/b", Namespace: "demo", Pod: "b", NetnsPath: "/b"}
	for _, step := range []struct {
		set  []gadget.Target
		want []string
	}{
		{[]gadget.Target{a}, []string{"demo/a"}},
		{[]gadget.Target{a, b}, []string{"demo/a", "demo/b"}},
		{[]gadget.Target{b}, []string{"demo/b"}},
	} {
		src.sets <- step.set // the watch is running: the trace is started
		eventually(t, fmt.Sprintf("targets %v", step.want), func() (bool, string) {
			got := p.targetIDs()
			return slices.Equal(got, step.want), fmt.Sprint(got)
		})
	}
	annotate(t, c, key, "stop")
	tr := waitTrace(t, c, key, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	var edges []string
	if err := json.Unmarshal([]byte(tr.Status.Output), &edges); err != nil || !slices.Equal(edges, []string{"target:demo/b"}) {
		t.Errorf("status.output = %s (%v), want the one target left", tr.Status.Output, err)
	}
}

// warningTargets is a WarningTargetSource that reports no target and a
// fixed warning, as a PodSource does for host-network pods.
type warningTargets struct{ warning string }

func (w warningTargets) Watch(ctx context.Context, f gadget.Filter, update func([]gadget.Target)) error {
	return w.WatchWithWarning(ctx, f, func(ts []gadget.Target, _ string) { update(ts) })
}

func (w warningTargets) WatchWithWarning(ctx context.Context, _ gadget.Filter, update func([]gadget.Target, string)) error {
	update(nil, w.warning)
	<-ctx.Done()
	return nil
}

// TestTargetWarningInStatus checks that what the target source says of
// the pods it leaves out (host-network pods) reaches
// status.operationWarning when the trace starts, and stays with the
// result when it stops.
func TestTargetWarningInStatus(t *testing.T) {
	c := requireCluster(t)
	ns := newNamespace(t, c)
	node := ns + "-node"
	reg, _ := newProbeRegistry()
	const warning = "1 selected pod(s) use the host network and are not watched: demo/hn"
	startAgent(t, Options{Node: node, Registry: reg, Targets: warningTargets{warning: warning}})
	key := createTrace(t, c, ns, "hostnet", v1alpha1.TraceSpec{
		Node: node, Gadget: "probe", RunMode: v1alpha1.RunModeAuto, OutputMode: v1alpha1.OutputModeStatus,
	})
	waitTrace(t, c, key, "started with the warning", func(tr *v1alpha1.Trace) bool {
		return tr.Status.State == v1alpha1.TraceStateStarted && tr.Status.OperationWarning == warning
	})
	annotate(t, c, key, "stop")
	tr := waitTrace(t, c, key, "stopped", func(tr *v1alpha1.Trace) bool {
		return handled(tr) && tr.Status.State == v1alpha1.TraceStateStopped
	})
	if !strings.Contains(tr.Status.OperationWarning, warning) {
		t.Errorf("operationWarning after stop = %q, want it to keep %q", tr.Status.OperationWarning, warning)
	}
}
