package controller

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// withHeartbeat returns st with the AgentReady condition of this agent
// (True, AgentRunning) merged into the conditions of old: the condition of
// old is kept as it is while it says the same, is younger than three
// quarters of the heartbeat interval and was written by this agent, so
// that a reconcile writes nothing between heartbeats; otherwise its
// heartbeat is renewed at now. A restarted agent thus renews the
// heartbeat of the traces it resumes at once: readers see that it runs.
func (r *Reconciler) withHeartbeat(old, st v1alpha1.TraceStatus, now time.Time) v1alpha1.TraceStatus {
	return r.withCondition(old, st, now, metav1.ConditionTrue, v1alpha1.ReasonAgentRunning,
		fmt.Sprintf("gadgetd runs on node %s and renews this condition every %s", r.opts.Node, r.opts.HeartbeatInterval))
}

// withCondition is withHeartbeat for any status, reason and message.
func (r *Reconciler) withCondition(old, st v1alpha1.TraceStatus, now time.Time, status metav1.ConditionStatus, reason, msg string) v1alpha1.TraceStatus {
	interval := r.opts.HeartbeatInterval
	want := v1alpha1.TraceCondition{
		Type:                     v1alpha1.ConditionAgentReady,
		Status:                   status,
		LastHeartbeatTime:        metav1.NewTime(now.Truncate(time.Second)),
		HeartbeatIntervalSeconds: int32(interval / time.Second),
		LastTransitionTime:       metav1.NewTime(now.Truncate(time.Second)),
		Reason:                   reason,
		Message:                  msg,
	}
	var conds []v1alpha1.TraceCondition
	for _, c := range old.Conditions {
		if c.Type != v1alpha1.ConditionAgentReady {
			conds = append(conds, c)
			continue
		}
		if c.Status == want.Status {
			want.LastTransitionTime = c.LastTransitionTime
			if c.Reason == want.Reason && c.Message == want.Message &&
				c.HeartbeatIntervalSeconds == want.HeartbeatIntervalSeconds &&
				now.Sub(c.LastHeartbeatTime.Time) < interval*3/4 && !c.LastHeartbeatTime.Time.Before(r.started) {
				want = c // fresh enough: write nothing
			}
		}
	}
	st.Conditions = append(conds, want)
	return st
}

// markStopped writes AgentReady False (AgentStopped) to the traces of
// this node the cache knows, when the agent shuts down on purpose: until
// the next agent starts, readers see that no one records. Failures are
// logged; the heartbeat going stale says the same later.
func (r *Reconciler) markStopped(ctx context.Context) {
	var list v1alpha1.TraceList
	if err := r.client.List(ctx, &list); err != nil {
		r.log.Warn("list the traces to mark the agent stopped", "err", err)
		return
	}
	now := time.Now()
	for i := range list.Items {
		tr := &list.Items[i]
		if tr.Spec.Node != r.opts.Node || !tr.DeletionTimestamp.IsZero() {
			continue
		}
		st := r.withCondition(tr.Status, tr.Status, now, metav1.ConditionFalse, v1alpha1.ReasonAgentStopped,
			fmt.Sprintf("gadgetd on node %s shut down at %s; the next agent on the node resumes the trace",
				r.opts.Node, now.UTC().Format(time.RFC3339)))
		orig := tr.DeepCopy()
		tr.Status = st
		if err := r.client.Status().Patch(ctx, tr, client.MergeFrom(orig)); err != nil {
			r.log.Warn("mark the agent stopped", "trace", tr.Namespace+"/"+tr.Name, "err", err)
		}
	}
}
