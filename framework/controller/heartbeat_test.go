package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// TestHeartbeatOfARestartedAgent: a reconcile keeps a fresh heartbeat of
// this agent as it is (no write between heartbeats), but renews one an
// earlier agent wrote, however fresh: a restarted agent says at once that
// it runs the traces it resumed.
func TestHeartbeatOfARestartedAgent(t *testing.T) {
	r, err := New(Options{Node: "node-1", HeartbeatInterval: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := r.started.Add(5 * time.Second)
	fresh := r.withHeartbeat(v1alpha1.TraceStatus{}, v1alpha1.TraceStatus{}, r.started.Add(2*time.Second))
	st := r.withHeartbeat(fresh, v1alpha1.TraceStatus{}, now)
	got := st.Condition(v1alpha1.ConditionAgentReady)
	if want := r.started.Add(2 * time.Second); !got.LastHeartbeatTime.Time.Equal(want) {
		t.Errorf("this agent's heartbeat of 3s ago: renewed at %v, want it kept (%v)", got.LastHeartbeatTime, want)
	}

	earlier := fresh.DeepCopy()
	earlier.Conditions[0].LastHeartbeatTime = metav1.NewTime(r.started.Add(-2 * time.Second))
	st = r.withHeartbeat(*earlier, v1alpha1.TraceStatus{}, now)
	got = st.Condition(v1alpha1.ConditionAgentReady)
	if !got.LastHeartbeatTime.Time.Equal(now) {
		t.Errorf("an earlier agent's heartbeat of 7s ago: %v, want it renewed at %v", got.LastHeartbeatTime, now)
	}
}
