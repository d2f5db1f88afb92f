package v1alpha1

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition returns the condition of type t, or nil.
func (s *TraceStatus) Condition(t ConditionType) *TraceCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// AgentReady is the AgentReady condition of tr as a reader should take it
// at now: as written by the agent while its heartbeat is fresh; with
// status Unknown and reason HeartbeatStale once the agent has not renewed
// it for StaleHeartbeats intervals (it crashed, hangs, or its node is
// gone); with status Unknown and reason NoHeartbeat when no agent ever
// wrote it. The agent cannot write Unknown itself when it is dead: every
// reader (kubectl gadget, a dashboard) computes it with this function.
func AgentReady(tr *Trace, now time.Time) TraceCondition {
	c := tr.Status.Condition(ConditionAgentReady)
	if c == nil {
		return TraceCondition{
			Type: ConditionAgentReady, Status: metav1.ConditionUnknown, Reason: ReasonNoHeartbeat,
			Message: fmt.Sprintf("no agent has reported on this trace: is gadgetd running on node %q?", tr.Spec.Node),
		}
	}
	out := *c
	if out.Status != metav1.ConditionTrue {
		return out
	}
	interval := time.Duration(out.HeartbeatIntervalSeconds) * time.Second
	if interval <= 0 {
		interval = DefaultHeartbeatInterval
	}
	if age := now.Sub(out.LastHeartbeatTime.Time); age > StaleHeartbeats*interval {
		out.Status = metav1.ConditionUnknown
		out.Reason = ReasonHeartbeatStale
		out.Message = fmt.Sprintf("the agent on node %q has not renewed its heartbeat since %s (%s ago, renewed every %s): "+
			"it crashed, hangs or the node is gone; the trace records nothing meanwhile",
			tr.Spec.Node, out.LastHeartbeatTime.UTC().Format(time.RFC3339), age.Truncate(time.Second), interval)
	}
	return out
}
