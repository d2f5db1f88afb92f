package networkgraph

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// collectLocked reads the kernel map and emits the edges whose counters
// moved since the last read, with the increase as their counters. When
// only is set, just those namespace tags are read.
func (in *instance) collectLocked(only map[uint32]bool) error {
	if in.objs == nil {
		return nil
	}
	if in.mode == AttachSocket {
		in.readAllConnsLocked(only)
	}
	clock := newClock()
	var batch []types.Event
	var stale []ngbpf.EdgeKey
	entries := 0
	err := in.objs.Edges(func(k ngbpf.EdgeKey, v ngbpf.EdgeValue) {
		entries++
		if only != nil && !only[k.Netns] {
			return
		}
		a, ok := in.byTag[k.Netns]
		if !ok {
			// Counted after the namespace's last read, before its hooks
			// were closed; not while they are still closing.
			if !in.closing[k.Netns] {
				stale = append(stale, k)
			}
			return
		}
		prev := in.last[k]
		if v.Packets == prev.Packets && v.Bytes == prev.Bytes {
			return
		}
		in.last[k] = v
		batch = append(batch, in.edgeEvent(a, k, v, prev, clock))
	})
	if len(stale) > 0 {
		if derr := in.objs.DeleteEdges(stale); derr != nil && err == nil {
			err = derr
		}
	}
	if only == nil && err == nil {
		in.cfg.Metrics.Set(metricMapEdges, float64(entries-len(stale)))
	}
	countTraffic(in.cfg.Metrics, batch)
	if in.modeWarning != "" {
		batch = append(batch, types.Event{Event: eventtypes.Warn(in.cfg.Node, in.modeWarning)})
		in.modeWarning = ""
	}
	if warn := in.statsWarning(); warn != nil {
		batch = append(batch, *warn)
	}
	if len(batch) > 0 {
		in.cfg.Emit(batch)
	}
	return err
}

// readAllConnsLocked reads the live TCP connections of the namespaces
// watched (those of only, when set; attach=socket). A namespace that
// cannot be entered (gone meanwhile) is logged and skipped.
func (in *instance) readAllConnsLocked(only map[uint32]bool) {
	for tag, a := range in.byTag {
		if only != nil && !only[tag] {
			continue
		}
		if err := in.readConnsLocked(a); err != nil {
			in.log.Warn("read TCP connections", "netns", a.target.NetnsPath, "pod", a.target.Pod, "error", err)
		}
	}
}

// statsWarning turns new kernel-side drops into a warn event and a log.
func (in *instance) statsWarning() *types.Event {
	now, err := in.objs.Stats()
	if err != nil {
		in.log.Warn("read network-graph stats", "error", err)
		return nil
	}
	prev := in.stats
	in.stats = now
	dropped := now[ngbpf.StatEdgesDropped] - prev[ngbpf.StatEdgesDropped]
	flows := now[ngbpf.StatFlowsDropped] - prev[ngbpf.StatFlowsDropped]
	untracked := now[ngbpf.StatTCPUntracked] - prev[ngbpf.StatTCPUntracked]
	conns := now[ngbpf.StatConnsDropped] - prev[ngbpf.StatConnsDropped]
	in.cfg.Metrics.Add(metricPacketsNotRecorded, float64(dropped))
	in.cfg.Metrics.Add(metricFlowsNotRemembered, float64(flows))
	in.cfg.Metrics.Add(metricConnsNotFollowed, float64(conns))
	if untracked > 0 {
		in.log.Debug("TCP packets of connections opened before attaching were not counted", "packets", untracked)
	}
	if dropped == 0 && flows == 0 && conns == 0 {
		return nil
	}
	msg := fmt.Sprintf("network-graph: %d packets not recorded because the edge map is full (max-edges=%d; raise it), %d flows not remembered",
		dropped, in.opts.MaxEdges, flows)
	if conns > 0 {
		msg += fmt.Sprintf(", %d TCP connections not followed (socket storage refused: optmem_max or memory)", conns)
	}
	in.log.Warn("edges dropped", "packets", dropped, "flows", flows, "connections", conns, "max_edges", in.opts.MaxEdges)
	return &types.Event{Event: eventtypes.Warn(in.cfg.Node, msg)}
}

func (in *instance) edgeEvent(a *attachment, k ngbpf.EdgeKey, v, prev ngbpf.EdgeValue, c clock) types.Event {
	t := a.target
	node := t.Node
	if node == "" {
		node = in.cfg.Node
	}
	e := types.Event{
		Event: eventtypes.Event{
			Type:      eventtypes.NORMAL,
			Node:      node,
			Namespace: t.Namespace,
			Pod:       t.Pod,
			Container: t.Container,
		},
		Proto:     protoName(k.Proto),
		Port:      int(k.Port),
		Packets:   v.Packets - prev.Packets,
		Bytes:     v.Bytes - prev.Bytes,
		FirstSeen: c.wall(v.FirstSeen),
		LastSeen:  c.wall(v.LastSeen),
	}
	if k.PktType == ngbpf.PacketOutgoing {
		e.PktType = types.PktTypeOutgoing
	} else {
		e.PktType = types.PktTypeHost
	}
	ip := edgeAddr(k)
	e.IP = ip.String()
	in.enrichLocal(&e, a, ip)
	if in.cfg.Names != nil {
		if name, stale, ok := in.cfg.Names.Lookup(t.ID, ip, c.now); ok {
			e.RemoteName, e.RemoteNameStale = name, stale
		}
	}
	return e
}

func edgeAddr(k ngbpf.EdgeKey) netip.Addr {
	if k.Family == 4 {
		return netip.AddrFrom4([4]byte(k.Addr[:4]))
	}
	return netip.AddrFrom16(k.Addr)
}

func protoName(p uint8) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

// clock converts kernel monotonic nanoseconds into wall-clock times.
type clock struct {
	now  time.Time
	mono int64
}

func newClock() clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{now: time.Now(), mono: ts.Nano()}
}

func (c clock) wall(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return c.now.Add(-time.Duration(c.mono - int64(ns))).UTC()
}
