package trace

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/names"
	"github.com/gadgetkit/gadget/framework/registry"
)

// splitParameters separates the framework's parameters from the gadget's
// (gadget.Info.SplitParameters).
func splitParameters(info *gadget.Info, params map[string]string) (own map[string]string, on map[gadget.Capability]bool, err error) {
	return info.SplitParameters(params)
}

// CheckParameters lets a gadget reject a trace's parameters before anything
// runs, as Start would see them: the framework's own (a capability the
// gadget Uses, e.g. dns-names=true) are checked and removed, the rest go to
// info.New, which touches nothing (gadget.Info.New's contract); the
// unstarted instance is dropped. params is not changed.
func CheckParameters(info *gadget.Info, params map[string]string) error {
	own, _, err := splitParameters(info, params)
	if err != nil {
		return err
	}
	_, err = info.New(gadget.Config{
		Parameters: own,
		Logger:     slog.New(slog.DiscardHandler),
		Emit:       func(any) {},
	})
	return err
}

// companion is an instance of another gadget run beside the trace's own
// because the trace's gadget Uses what that gadget Provides.
type companion struct {
	name     string
	instance gadget.Instance
}

// startCompanions starts, for the capabilities the gadget Uses, an
// instance of the first registered gadget (by name) that Provides each,
// with the trace's node and filter, its own default parameters and the
// trace's targets; their batches and their logs below Error are
// discarded. It
// returns the name table the gadget's instance gets, or nil when nothing
// provides one. A companion that fails is logged and left out: the trace
// runs without what it would have provided.
func (t *Trace) startCompanions(ctx context.Context, on map[gadget.Capability]bool) gadget.Names {
	if !on[gadget.CapabilityDNSNames] {
		return nil
	}
	var provider *gadget.Info
	for _, p := range t.reg.Providers(gadget.CapabilityDNSNames) {
		if p.Name != t.info.Name {
			provider = p
			break
		}
	}
	if provider == nil {
		t.log.Debug("no registered gadget provides what the gadget uses", "capability", gadget.CapabilityDNSNames)
		return nil
	}
	table := names.New(0)
	log := t.log.With("companion", provider.Name)
	inst, err := provider.New(gadget.Config{
		Node:   t.cfg.Node,
		Filter: t.cfg.Filter,
		// Its own warnings (e.g. packets to port 53 that are not DNS) are
		// about what the user did not ask to watch: only its errors show.
		Logger: slog.New(minLevel{log.Handler(), slog.LevelError}),
		Emit:   func(any) {},
		Names:  table,
	})
	if err == nil {
		err = inst.Start(ctx)
	}
	if err != nil {
		log.Warn("companion gadget not started: the trace runs without its observations", "capability", gadget.CapabilityDNSNames, "err", err)
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(t.targets)) {
		if err := inst.AddTarget(ctx, t.targets[id]); err != nil {
			log.Warn("companion gadget does not watch a target", "target", id, "err", err)
		}
	}
	t.companions = append(t.companions, companion{name: provider.Name, instance: inst})
	log.Info("companion gadget started", "capability", gadget.CapabilityDNSNames)
	return table
}

// companionsAdd has the companions watch tg; relabel says that the
// trace's instance took new labels for a target it watches.
func (t *Trace) companionsAdd(ctx context.Context, tg gadget.Target, relabel bool) {
	for _, c := range t.companions {
		var err error
		r, ok := c.instance.(gadget.Relabeler)
		if relabel && ok {
			err = r.RelabelTarget(ctx, tg)
		} else {
			err = c.instance.AddTarget(ctx, tg)
		}
		if err != nil {
			t.log.Warn("companion gadget does not watch a target", "companion", c.name, "target", tg.ID, "err", err)
		}
	}
}

func (t *Trace) companionsRemove(ctx context.Context, id string) {
	for _, c := range t.companions {
		if err := c.instance.RemoveTarget(ctx, id); err != nil {
			t.log.Warn("companion gadget did not let go of a target", "companion", c.name, "target", id, "err", err)
		}
	}
}

func (t *Trace) stopCompanions(ctx context.Context) {
	for _, c := range t.companions {
		if err := c.instance.Stop(ctx); err != nil {
			t.log.Warn("stop companion gadget", "companion", c.name, "err", err)
		}
	}
	t.companions = nil
}

// minLevel is a slog.Handler passing on only records of at least level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// KernelMemory estimates the kernel memory in bytes one run of a trace of
// info with params pins: the gadget's own (gadget.Info.KernelMemory)
// plus that of the companion it runs for each capability params turn on
// (with its default parameters). Its errors are about params.
func KernelMemory(reg *registry.Registry, info *gadget.Info, params map[string]string) (uint64, error) {
	if reg == nil {
		reg = registry.Default
	}
	own, on, err := splitParameters(info, params)
	if err != nil {
		return 0, err
	}
	var total uint64
	if info.KernelMemory != nil {
		if total, err = info.KernelMemory(own); err != nil {
			return 0, err
		}
	}
	if on[gadget.CapabilityDNSNames] {
		for _, p := range reg.Providers(gadget.CapabilityDNSNames) {
			if p.Name == info.Name {
				continue
			}
			if p.KernelMemory != nil {
				n, err := p.KernelMemory(nil)
				if err != nil {
					return 0, fmt.Errorf("companion gadget %s: %w", p.Name, err)
				}
				total += n
			}
			break
		}
	}
	return total, nil
}
