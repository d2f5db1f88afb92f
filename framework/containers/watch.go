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
// (inotify on /var/run/netns and /run/netns) or something is mounted (the
// namespace is bind-mounted on its name a little after the name appears),
// and reports the difference with the previous answer, by Target.ID: add
// for each target that appeared (in resolve's order), then remove for each
// that is gone (sorted by ID). The first answer is all added. A target
// whose Pod or NetnsPath changed under the same ID (the same namespace,
// first seen through the process that created it, then by its name) is
// added again, with no remove: the caller relabels it (see
// gadget.Relabeler). add and remove run on Watch's goroutine, one at a
// time; a slow callback delays the next tick rather than piling ticks up.
//
// A typical resolve is
//
//	func(ctx context.Context) ([]gadget.Target, error) { return Resolve(ctx, node, sel) }
//
// Watch returns nil when ctx ends. It returns an error if interval is not
// positive or if the first resolve fails; a later failure keeps the previous
// targets and is retried soon.
func Watch(ctx context.Context, interval time.Duration, resolve func(context.Context) ([]gadget.Target, error),
	add func(gadget.Target), remove func(id string)) error {
	return WatchNamed(ctx, interval, resolve, nil, add, remove)
}

// WatchNamed is Watch with a fast path for names. When a netns folder or
// the mount table changes, it calls named instead of resolve: named
// returns the named namespaces among resolve's targets, as resolve would
// (ResolveNamed), without its scan of every process, and WatchNamed adds
// at once those it does not know yet; it removes nothing. resolve follows
// a moment later (settleDelay, then further and further apart, and every
// interval) and has the last word. So a name's namespace is attached as
// soon as it is mounted, without waiting for a full scan (several
// milliseconds with hundreds of processes), nor for the one that the
// name's file, created first, set off. A nil named is Watch.
func WatchNamed(ctx context.Context, interval time.Duration, resolve, named func(context.Context) ([]gadget.Target, error),
	add func(gadget.Target), remove func(id string)) error {
	if interval <= 0 {
		return fmt.Errorf("watch targets: interval %v: use a positive duration, e.g. 2s", interval)
	}
	known := map[string]gadget.Target{}
	tick := func() error {
		targets, err := resolve(ctx)
		if err != nil {
			return err
		}
		now := make(map[string]gadget.Target, len(targets))
		for _, t := range targets {
			if _, dup := now[t.ID]; dup {
				continue
			}
			now[t.ID] = t
			old, ok := known[t.ID]
			switch {
			case !ok:
				add(t)
			case old.Pod != t.Pod || old.NetnsPath != t.NetnsPath:
				// The same namespace under another name, e.g. first seen
				// through the `ip netns add` process that created it, then
				// by its name once mounted: add again, no remove.
				add(t)
			}
		}
		var gone []string
		for id := range known {
			if _, ok := now[id]; !ok {
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
	// quick adds the named targets not known yet (see WatchNamed).
	quick := func() {
		targets, err := named(ctx)
		if err != nil {
			return // resolve, soon, says more
		}
		for _, t := range targets {
			if _, ok := known[t.ID]; !ok {
				known[t.ID] = t
				add(t)
			}
		}
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
	// After a change, look again a few times, further and further apart:
	// `ip netns add` creates the file first and mounts the namespace on it
	// later (much later on a busy machine), which no event reports.
	settle := time.NewTimer(0)
	<-settle.C
	retries := settleRetries
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-changed:
			retries = 0
			settle.Reset(settleDelay)
			if named != nil {
				quick()
				continue
			}
		case <-settle.C:
			if retries++; retries < settleRetries {
				settle.Reset(settleDelay << retries)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := tick(); err != nil && retries >= settleRetries {
			// A transient failure (e.g. a namespace that went away while
			// it was read) keeps the previous targets; look again soon
			// rather than an interval later.
			retries = settleRetries - 1
			settle.Reset(settleDelay)
		}
	}
}
