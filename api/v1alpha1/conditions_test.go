package v1alpha1

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAgentReady(t *testing.T) {
	now := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	cond := func(status metav1.ConditionStatus, age time.Duration, interval int32) []TraceCondition {
		return []TraceCondition{{Type: ConditionAgentReady, Status: status, Reason: "R",
			LastHeartbeatTime: metav1.NewTime(now.Add(-age)), HeartbeatIntervalSeconds: interval}}
	}
	tests := []struct {
		name       string
		conds      []TraceCondition
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		{"no condition", nil, metav1.ConditionUnknown, ReasonNoHeartbeat},
		{"fresh", cond(metav1.ConditionTrue, 10*time.Second, 30), metav1.ConditionTrue, "R"},
		{"three intervals: not yet stale", cond(metav1.ConditionTrue, 90*time.Second, 30), metav1.ConditionTrue, "R"},
		{"stale", cond(metav1.ConditionTrue, 91*time.Second, 30), metav1.ConditionUnknown, ReasonHeartbeatStale},
		{"stale, short interval", cond(metav1.ConditionTrue, 4*time.Second, 1), metav1.ConditionUnknown, ReasonHeartbeatStale},
		{"no interval: the default", cond(metav1.ConditionTrue, 80*time.Second, 0), metav1.ConditionTrue, "R"},
		{"stopped stays False however old", cond(metav1.ConditionFalse, time.Hour, 30), metav1.ConditionFalse, "R"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Trace{Spec: TraceSpec{Node: "w1"}, Status: TraceStatus{Conditions: tt.conds}}
			got := AgentReady(tr, now)
			if got.Status != tt.wantStatus || got.Reason != tt.wantReason {
				t.Errorf("AgentReady = %s/%s, want %s/%s (%s)", got.Status, got.Reason, tt.wantStatus, tt.wantReason, got.Message)
			}
			if got.Status == metav1.ConditionUnknown && !strings.Contains(got.Message, `node "w1"`) {
				t.Errorf("message %q does not name the node", got.Message)
			}
		})
	}
}
