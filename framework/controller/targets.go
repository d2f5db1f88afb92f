package controller

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/trace"
)

// TargetSource reports the targets (pods with their network namespaces) on this node matching filter.
type TargetSource interface {
	// Watch calls update with the complete current set of matching targets each time it changes,
	// until ctx is done. update is never called concurrently.
	Watch(ctx context.Context, filter gadget.Filter, update func([]gadget.Target)) error
}

// WarningTargetSource is a TargetSource that can also tell the users of a
// trace about pods its filter selects but that it cannot watch (e.g.
// host-network pods). The reconciler uses WatchWithWarning when its
// TargetSource has it, and shows the warning in status.operationWarning.
type WarningTargetSource interface {
	TargetSource
	// WatchWithWarning is Watch whose update also gets the current
	// warning, "" when there is none.
	WatchWithWarning(ctx context.Context, filter gadget.Filter, update func(targets []gadget.Target, warning string)) error
}

// NoTargets is a TargetSource that never finds a target: it reports the
// empty set once and then waits for ctx. A node agent without pod
// discovery runs its traces on nothing with it.
type NoTargets struct{}

// Watch reports the empty set and returns when ctx is done.
func (NoTargets) Watch(ctx context.Context, _ gadget.Filter, update func([]gadget.Target)) error {
	update(nil)
	<-ctx.Done()
	return nil
}

// targetSync applies the successive target sets of a TargetSource to a
// trace: it adds the new targets and removes the vanished ones. A target
// whose ID stays but whose fields change is removed and added again.
type targetSync struct {
	tr  *trace.Trace
	log *slog.Logger
	// known are the targets the trace was given, by ID.
	known map[string]gadget.Target
}

// apply makes the trace watch exactly next. A target the trace cannot add
// is logged and left out of known, so that the next update tries again.
func (s *targetSync) apply(ctx context.Context, next []gadget.Target) {
	want := make(map[string]gadget.Target, len(next))
	for _, t := range next {
		if t.ID == "" {
			s.log.Warn("target without ID ignored", "pod", t.Pod, "netns", t.NetnsPath)
			continue
		}
		want[t.ID] = t
	}
	for _, id := range slices.Sorted(maps.Keys(s.known)) {
		if w, ok := want[id]; ok && w == s.known[id] {
			continue
		}
		if err := s.tr.RemoveTarget(ctx, id); err != nil {
			s.log.Warn("remove target", "target", id, "err", err)
		}
		delete(s.known, id)
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if _, ok := s.known[id]; ok {
			continue
		}
		t := want[id]
		if err := s.tr.AddTarget(ctx, t); err != nil {
			s.log.Warn("add target", "target", id, "pod", t.Pod, "netns", t.NetnsPath, "err", err)
			continue
		}
		s.known[id] = t
	}
}
