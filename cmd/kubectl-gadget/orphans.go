package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
)

// releaseOrphans removes the agent's finalizer from those of traces that
// are being deleted but whose agent is not there to release them: their
// AgentReady condition is not True (a stale heartbeat, an agent that shut
// down, or none ever), so deleting them would hang. Nothing is left in the
// kernel: the agent's eBPF objects went with its process. A trace whose
// agent is alive is left to it. Each trace released here is named on
// stderr.
func releaseOrphans(ctx context.Context, c *clients, traces []*v1alpha1.Trace, stderr io.Writer) error {
	now := time.Now()
	for _, t := range traces {
		var tr v1alpha1.Trace
		if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(t), &tr); err != nil {
			continue // gone already, or unreadable: nothing to do here
		}
		i := slices.Index(tr.Finalizers, v1alpha1.AgentFinalizer)
		if tr.DeletionTimestamp.IsZero() || i < 0 {
			continue
		}
		ready := v1alpha1.AgentReady(&tr, now)
		if ready.Status == metav1.ConditionTrue {
			continue
		}
		// Remove this finalizer only, and only if it is still where it was.
		path := fmt.Sprintf("/metadata/finalizers/%d", i)
		patch, err := json.Marshal([]map[string]any{
			{"op": "test", "path": path, "value": v1alpha1.AgentFinalizer},
			{"op": "remove", "path": path},
		})
		if err != nil {
			return fmt.Errorf("encode the finalizer patch: %w", err)
		}
		if err := client.IgnoreNotFound(c.ctrl.Patch(ctx, &tr, client.RawPatch(types.JSONPatchType, patch))); err != nil {
			return explain(fmt.Errorf("remove the finalizer of trace %s/%s: %w", tr.Namespace, tr.Name, err), "patch traces")
		}
		fmt.Fprintf(stderr, "warning: trace %s/%s: no agent releases it (AgentReady %s, %s: %s); removed its finalizer %s\n",
			tr.Namespace, tr.Name, ready.Status, ready.Reason, strings.TrimSpace(ready.Message), v1alpha1.AgentFinalizer)
	}
	return nil
}

// agentState describes the AgentReady condition of a trace whose agent
// did not answer, e.g. "AgentReady Unknown (HeartbeatStale): ...".
func agentState(ctx context.Context, c *clients, t *v1alpha1.Trace) string {
	var tr v1alpha1.Trace
	if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(t), &tr); err != nil {
		return ""
	}
	r := v1alpha1.AgentReady(&tr, time.Now())
	return fmt.Sprintf("AgentReady %s (%s): %s", r.Status, r.Reason, r.Message)
}
