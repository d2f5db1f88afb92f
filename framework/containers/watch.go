package containers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// Watch follows targets that come and go while a trace runs. It calls
// resolve at once, then every interval and, without waiting for the
// interval, whenever a named network namespace is added or removed
// (inotify on /var/run/netns and /run/netns), and reports the difference with
// the previous answer, by Target.ID: add for each target that appeared (in
// resolve's order), then remove for each that is gone (sorted by ID). The
// first answer is all added. add and remove run on Watch's goroutine, one
// at a time; a slow callback delays the next tick rather than piling ticks
// up.
//
// A typical resolve is
//
//	func(ctx context.Context) ([]gadget.Target, error) { return Resolve(ctx, node, sel) }
//
// Watch returns nil when ctx ends. It returns an error if interval is not
// positive or if the first resolve fails; a later failure keeps the previous
// targets and is retried at the next tick.
func Watch(ctx context.Context, interval time.Duration, resolve func(context.Context) ([]gadget.Target, error),
	add func(gadget.Target), remove func(id string)) error {
	if interval <= 0 {
		return fmt.Errorf("watch targets: interval %v: use a positive duration, e.g. 2s", interval)
	}
	known := map[string]bool{}
	tick := func() error {
		targets, err := resolve(ctx)
		if err != nil {
			return err
		}
		now := make(map[string]bool, len(targets))
		for _, t := range targets {
			if now[t.ID] {
				continue
			}
			now[t.ID] = true
			if !known[t.ID] {
				add(t)
			}
		}
		var gone []string
		for id := range known {
			if !now[id] {
				gone = append(gone, id)
			}
		}
		slices.Sort(gone)
		for _, id := range gone {
			remove(id)
		}
		known = now
		return nil
	}
	if err := tick(); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch targets: %w", err)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	changed := notifyNetns(ctx, netnsDirs)
	settle := time.NewTimer(0)
	<-settle.C
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-changed:
			// A namespace was named or unnamed: look now, and once more
			// when its mount has settled.
			settle.Reset(settleDelay)
		case <-settle.C:
		}
		if ctx.Err() != nil {
			return nil
		}
		_ = tick() // a transient failure keeps the previous targets
	}
}
