package soaks

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// recorder is a Driver that records what it was asked.
type recorder struct{ calls []string }

func (r *recorder) Operate(name, op, state string) { r.calls = append(r.calls, op+" "+name+" "+state) }
func (r *recorder) Delete(name string)             { r.calls = append(r.calls, "delete "+name) }

func TestTraces(t *testing.T) {
	r := &recorder{}
	ts := NewTraces(r, rand.New(rand.NewPCG(1, 2)))
	ts.Add(&Trace{Name: "long", Gadget: "network-graph", Mode: v1alpha1.OutputModeStream, Long: true})
	if got := ts.Pick(); got != "" {
		t.Errorf("Pick() with only a long trace = %q, want none", got)
	}
	ts.Add(&Trace{Name: "c1", Gadget: "network-graph", Mode: v1alpha1.OutputModeStatus})
	ts.Add(&Trace{Name: "c2", Gadget: "dns", Mode: v1alpha1.OutputModeStatus})
	if got := ts.Churned(); got != 2 {
		t.Errorf("Churned() = %d, want 2", got)
	}
	for range 20 {
		if got := ts.Pick(); got != "c1" && got != "c2" {
			t.Fatalf("Pick() = %q, want a churned trace", got)
		}
	}
	ts.Restart("c1") // running: stopped
	if ts.Get("c1").Running {
		t.Error("c1 runs after a Restart of a running trace")
	}
	if got, want := ts.Names(true), []string{"c2", "long"}; !slices.Equal(got, want) {
		t.Errorf("Names(running) = %v, want %v", got, want)
	}
	ts.Restart("c1") // stopped: started
	ts.Delete("c2")
	ts.Delete("")
	if ts.Get("c2") != nil {
		t.Error("c2 kept after Delete")
	}
	if got, want := ts.Names(false), []string{"c1", "long"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	// Created three traces, each started; c1 stopped and started again,
	// c2 deleted (stopped first or not, as the coin fell).
	want := []string{"start long Started", "start c1 Started", "start c2 Started", "stop c1 Stopped", "start c1 Started"}
	if !slices.Equal(r.calls[:5], want) || r.calls[len(r.calls)-1] != "delete c2" {
		t.Errorf("calls = %q, want %q then maybe a stop of c2, then its delete", r.calls, want)
	}
	stops := 1
	if len(r.calls) == 7 {
		stops = 2
		if r.calls[5] != "stop c2 Stopped" {
			t.Errorf("calls = %q", r.calls)
		}
	}
	summary := ts.Summary()
	wantSummary := fmt.Sprintf("3 created (1 dns, 2 network-graph; 2 Status, 1 Stream), %d stopped, 1 deleted", stops)
	if summary != wantSummary {
		t.Errorf("Summary() = %q, want %q", summary, wantSummary)
	}

	one := NewTraces(r, rand.New(rand.NewPCG(1, 2)))
	one.Add(&Trace{Name: "x", Gadget: "network-graph", Mode: v1alpha1.OutputModeStatus})
	if got, want := one.Summary(), "1 created (1 Status, 0 Stream), 0 stopped, 0 deleted"; got != want {
		t.Errorf("Summary() of one gadget = %q, want %q", got, want)
	}
}

func TestResumedWithWarning(t *testing.T) {
	lost := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	since := lost.Add(2 * time.Second)
	warning := func(at time.Time, what string) string {
		return "the node agent restarted and resumed this trace at " + at.Format(time.RFC3339) + ": " + what
	}
	trace := func(heartbeat time.Time, state v1alpha1.TraceState, warn string) *v1alpha1.Trace {
		tr := &v1alpha1.Trace{}
		tr.Status.State = state
		tr.Status.OperationWarning = warn
		tr.Status.Conditions = []v1alpha1.TraceCondition{{Type: v1alpha1.ConditionAgentReady, Status: metav1.ConditionTrue,
			LastHeartbeatTime: metav1.NewTime(heartbeat)}}
		return tr
	}
	after := since.Add(time.Second)
	tests := []struct {
		name   string
		tr     *v1alpha1.Trace
		mode   v1alpha1.OutputMode
		ok     bool
		reason string
	}{
		{"status, checkpoint", trace(after, v1alpha1.TraceStateStarted, warning(after, "edges since may be missing")), v1alpha1.OutputModeStatus, true, ""},
		{"status, no checkpoint yet", trace(after, v1alpha1.TraceStateStarted, warning(after, "events before it are not in the output")), v1alpha1.OutputModeStatus, true, ""},
		{"stream", trace(after, v1alpha1.TraceStateStarted, warning(after, "events meanwhile were not streamed")), v1alpha1.OutputModeStream, true, ""},
		{"stream, the status wording", trace(after, v1alpha1.TraceStateStarted, warning(after, "edges may be missing")), v1alpha1.OutputModeStream, false, "does not say what was lost"},
		{"heartbeat of the old agent", trace(lost, v1alpha1.TraceStateStarted, warning(after, "may be missing")), v1alpha1.OutputModeStatus, false, "AgentReady"},
		{"not started", trace(after, v1alpha1.TraceStateStopped, warning(after, "may be missing")), v1alpha1.OutputModeStatus, false, `state "Stopped"`},
		{"no warning", trace(after, v1alpha1.TraceStateStarted, ""), v1alpha1.OutputModeStatus, false, "says nothing of the restart"},
		{"an older restart's warning", trace(after, v1alpha1.TraceStateStarted, warning(lost.Add(-time.Minute), "may be missing")), v1alpha1.OutputModeStatus, false, "before the kill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := ResumedWithWarning(tt.tr, tt.mode, since, lost)
			if ok != tt.ok || !strings.Contains(reason, tt.reason) {
				t.Errorf("ResumedWithWarning = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestSpreadAndTable(t *testing.T) {
	if got := Spread(nil, time.Second, "no kill"); got != "no kill" {
		t.Errorf("Spread(nil) = %q", got)
	}
	ds := []time.Duration{3 * time.Second, 1 * time.Second, 2*time.Second + 400*time.Millisecond}
	if got, want := Spread(ds, time.Second, ""), "median 2s, max 3s"; got != want {
		t.Errorf("Spread = %q, want %q", got, want)
	}
	if ds[0] != 3*time.Second {
		t.Error("Spread sorted its argument")
	}
	if got, want := Table([][2]string{{"a", "1"}, {"b", "2"}}), "| figure | value |\n|---|---|\n| a | 1 |\n| b | 2 |\n"; got != want {
		t.Errorf("Table = %q, want %q", got, want)
	}
}
