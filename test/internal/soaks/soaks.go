// Package soaks is what the two soaks (TestSoak in test/e2e, on the
// simulated node; TestSoakNode in test/e2enode, on a real one) share: the
// bookkeeping of the Traces they churn, the check that a trace resumed
// after its agent was killed, and the report's table.
package soaks

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// Trace is a Trace a soak created and has not deleted yet.
type Trace struct {
	Name, Gadget string
	Mode         v1alpha1.OutputMode
	// Long traces live through the whole soak: never churned.
	Long    bool
	Running bool
}

// Driver acts on a soak's Traces, through the API server or kubectl; it
// fails the test when it cannot.
type Driver interface {
	// Operate sets the operation annotation of the Trace name to op
	// (start, stop) and waits until the agent has handled it: its
	// status.state is state.
	Operate(name, op, state string)
	// Delete deletes the Trace name and waits until it is gone (the agent
	// removes its finalizer).
	Delete(name string)
}

// Traces are a soak's Traces, and counts of what it did with them.
type Traces struct {
	d      Driver
	rng    *rand.Rand
	byName map[string]*Trace

	Stopped, Deleted int
	ByMode           map[v1alpha1.OutputMode]int // created
	ByGadget         map[string]int              // created
}

// NewTraces returns no Traces, acted on through d, picked at random by rng.
func NewTraces(d Driver, rng *rand.Rand) *Traces {
	return &Traces{d: d, rng: rng, byName: map[string]*Trace{},
		ByMode: map[v1alpha1.OutputMode]int{}, ByGadget: map[string]int{}}
}

// Add records tr, just created (stopped), and starts it.
func (ts *Traces) Add(tr *Trace) {
	tr.Running = false
	ts.byName[tr.Name] = tr
	ts.ByMode[tr.Mode]++
	ts.ByGadget[tr.Gadget]++
	ts.Start(tr.Name)
}

// Get is the Trace name, nil when there is none.
func (ts *Traces) Get(name string) *Trace { return ts.byName[name] }

// Names are the names of the Traces, sorted; with running set, of the
// running ones only.
func (ts *Traces) Names(running bool) []string {
	var names []string
	for n, tr := range ts.byName {
		if tr.Running || !running {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Churned is the number of Traces not Long.
func (ts *Traces) Churned() int {
	n := 0
	for _, tr := range ts.byName {
		if !tr.Long {
			n++
		}
	}
	return n
}

// Pick is the name of a churned Trace at random, "" when there is none.
func (ts *Traces) Pick() string {
	var names []string
	for _, n := range ts.Names(false) {
		if !ts.byName[n].Long {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return names[ts.rng.IntN(len(names))]
}

// Start starts the Trace name.
func (ts *Traces) Start(name string) {
	ts.d.Operate(name, "start", string(v1alpha1.TraceStateStarted))
	ts.byName[name].Running = true
}

// Restart stops the Trace name when it runs and starts it when it does
// not: a new run, the next time.
func (ts *Traces) Restart(name string) {
	tr := ts.byName[name]
	if !tr.Running {
		ts.Start(name)
		return
	}
	ts.stop(tr)
}

func (ts *Traces) stop(tr *Trace) {
	ts.d.Operate(tr.Name, "stop", string(v1alpha1.TraceStateStopped))
	tr.Running = false
	ts.Stopped++
}

// Delete deletes the Trace name, "" for none: stopped first half the
// time when it runs, else while it runs (its finalizer stops it).
func (ts *Traces) Delete(name string) {
	tr := ts.byName[name]
	if tr == nil {
		return
	}
	if tr.Running && ts.rng.IntN(2) == 0 {
		ts.stop(tr)
	}
	ts.d.Delete(name)
	delete(ts.byName, name)
	ts.Deleted++
}

// Summary says what was done with the Traces: how many created, of which
// gadgets (when more than one) and output modes, stopped and deleted.
func (ts *Traces) Summary() string {
	of := fmt.Sprintf("%d %s, %d %s", ts.ByMode[v1alpha1.OutputModeStatus], v1alpha1.OutputModeStatus,
		ts.ByMode[v1alpha1.OutputModeStream], v1alpha1.OutputModeStream)
	if len(ts.ByGadget) > 1 {
		var gadgets []string
		for _, g := range slices.Sorted(maps.Keys(ts.ByGadget)) {
			gadgets = append(gadgets, fmt.Sprintf("%d %s", ts.ByGadget[g], g))
		}
		of = strings.Join(gadgets, ", ") + "; " + of
	}
	created := 0
	for _, n := range ts.ByMode {
		created += n
	}
	return fmt.Sprintf("%d created (%s), %d stopped, %d deleted", created, of, ts.Stopped, ts.Deleted)
}

// WaitResumed waits, for at most timeout each, until every running Trace
// resumed under a new agent (ResumedWithWarning with since and lost),
// polling every period. It returns how many did, and for each that did
// not, its name and what was last seen.
func (ts *Traces) WaitResumed(ctx context.Context, dyn dynamic.ResourceInterface, since, lost time.Time, timeout, period time.Duration) (resumed int, failed [][2]string) {
	for _, name := range ts.Names(true) {
		mode := ts.byName[name].Mode
		var last string
		for wait := time.Now().Add(timeout); ; {
			tr, err := GetTrace(ctx, dyn, name)
			if err == nil {
				ok, detail := ResumedWithWarning(tr, mode, since, lost)
				if ok {
					resumed++
					break
				}
				last = detail
			} else {
				last = err.Error()
			}
			if ctx.Err() != nil || time.Now().After(wait) {
				failed = append(failed, [2]string{name, last})
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(period):
			}
		}
	}
	return resumed, failed
}

// GetTrace reads the Trace name.
func GetTrace(ctx context.Context, dyn dynamic.ResourceInterface, name string) (*v1alpha1.Trace, error) {
	u, err := dyn.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var tr v1alpha1.Trace
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &tr); err != nil {
		return nil, fmt.Errorf("trace %s: %w", name, err)
	}
	return &tr, nil
}

// resumeStamp is where a resumed trace's warning says when it resumed.
var resumeStamp = regexp.MustCompile(`the node agent restarted and resumed this trace at (\S+):`)

// ResumedWithWarning tells whether tr, in output mode mode, runs under an
// agent whose heartbeat is from since on, with a warning that the agent
// resumed it after lost and what may be missing; if not, why.
func ResumedWithWarning(tr *v1alpha1.Trace, mode v1alpha1.OutputMode, since, lost time.Time) (bool, string) {
	c := tr.Status.Condition(v1alpha1.ConditionAgentReady)
	if c == nil || c.Status != metav1.ConditionTrue || c.LastHeartbeatTime.Time.Before(since) {
		return false, fmt.Sprintf("AgentReady %+v", c)
	}
	if tr.Status.State != v1alpha1.TraceStateStarted {
		return false, fmt.Sprintf("state %q", tr.Status.State)
	}
	w := tr.Status.OperationWarning
	m := resumeStamp.FindStringSubmatch(w)
	if m == nil {
		return false, fmt.Sprintf("operationWarning %q says nothing of the restart", w)
	}
	at, err := time.Parse(time.RFC3339, m[1])
	if err != nil || at.Before(lost) {
		return false, fmt.Sprintf("operationWarning %q: resumed at %s, before the kill at %s (an older warning?)", w, m[1], lost.Format(time.RFC3339))
	}
	// Status: what the last checkpoint holds may be missing, or, with no
	// checkpoint taken yet, the events before the restart are not in the
	// output. Stream: the events between the two runs were not streamed.
	want := []string{"may be missing", "are not in the output"}
	if mode == v1alpha1.OutputModeStream {
		want = []string{"were not streamed"}
	}
	for _, x := range want {
		if strings.Contains(w, x) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("operationWarning %q does not say what was lost (%q)", w, want)
}

// Spread is "median M, max X" of ds, each rounded to round; none when ds
// is empty.
func Spread(ds []time.Duration, round time.Duration, none string) string {
	if len(ds) == 0 {
		return none
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("median %v, max %v", s[len(s)/2].Round(round), s[len(s)-1].Round(round))
}

// Commit is the repository's short HEAD commit, marked when the tree has
// uncommitted changes; "unknown" outside a git checkout.
func Commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	if out, _ := exec.Command("git", "status", "--porcelain").Output(); len(out) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

// Table is rows of figure and value as a markdown table.
func Table(rows [][2]string) string {
	var b strings.Builder
	b.WriteString("| figure | value |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	return b.String()
}

// MiB is b bytes in MiB, one decimal.
func MiB(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
