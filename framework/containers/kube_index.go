package containers

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// netnsEntry is one network namespace of the node, as the address index
// knows it.
type netnsEntry struct {
	path string
	ino  uint64
}

// lookupResult says how an address lookup ended.
type lookupResult int

const (
	// lookupFound: exactly one live namespace holds the address.
	lookupFound lookupResult = iota
	// lookupMissing: no namespace holds the address (yet).
	lookupMissing
	// lookupAmbiguous: several namespaces hold the address.
	lookupAmbiguous
)

// netnsIndex maps the addresses configured inside the node's network
// namespaces (the host's own excluded) to those namespaces. It is rebuilt
// when an address is not found, at most once per minInterval, so that
// namespaces created after the last scan are found without rescanning the
// node for every lookup. It is safe for concurrent use.
type netnsIndex struct {
	// scan lists the addresses of every non-host namespace of the node.
	scan func(ctx context.Context) (map[netip.Addr][]netnsEntry, error)
	// inode checks that a namespace still exists (NetnsInode).
	inode       func(path string) (uint64, error)
	now         func() time.Time
	minInterval time.Duration

	mu       sync.Mutex
	byAddr   map[netip.Addr][]netnsEntry
	lastScan time.Time // zero: never scanned
}

func newNetnsIndex(minInterval time.Duration) *netnsIndex {
	return &netnsIndex{
		scan:        scanNetnsAddrs,
		inode:       NetnsInode,
		now:         time.Now,
		minInterval: minInterval,
	}
}

// lookup returns the namespace holding one of addrs, trying them in order.
// On a miss it rescans the node if the last scan is older than
// minInterval, then looks again. A scan error is returned with
// lookupMissing; the previous index is kept.
func (x *netnsIndex) lookup(ctx context.Context, addrs []netip.Addr) (netnsEntry, lookupResult, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, res := x.find(addrs)
	if res == lookupFound || (!x.lastScan.IsZero() && x.now().Sub(x.lastScan) < x.minInterval) {
		return e, res, nil
	}
	byAddr, err := x.scan(ctx)
	x.lastScan = x.now()
	if err != nil {
		return netnsEntry{}, lookupMissing, fmt.Errorf("index network namespace addresses: %w", err)
	}
	x.byAddr = byAddr
	e, res = x.find(addrs)
	return e, res, nil
}

// find looks addrs up in the current index. A namespace that no longer
// exists (its path now names another namespace, or nothing) does not count.
func (x *netnsIndex) find(addrs []netip.Addr) (netnsEntry, lookupResult) {
	res := lookupMissing
	for _, a := range addrs {
		var live []netnsEntry
		for _, e := range x.byAddr[a.Unmap()] {
			if ino, err := x.inode(e.path); err == nil && ino == e.ino {
				live = append(live, e)
			}
		}
		switch len(live) {
		case 0:
		case 1:
			return live[0], lookupFound
		default:
			res = lookupAmbiguous
		}
	}
	return netnsEntry{}, res
}

// scanNetnsAddrs reads the addresses of every network namespace of the
// node but the host's: named ones and those of processes, deduplicated by
// inode (see host.all). Loopback, link-local and unspecified addresses are
// left out: they never identify a pod. A namespace that vanishes during
// the scan is skipped. The cost is one setns round trip and one netlink
// dump per namespace.
func scanNetnsAddrs(ctx context.Context) (map[netip.Addr][]netnsEntry, error) {
	all, err := defaultHost().all(ctx, "", true)
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr][]netnsEntry{}
	for _, t := range all {
		if t.Pod == HostPod {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var addrs []net.Addr
		err := InNetns(t.NetnsPath, func() error {
			var err error
			addrs, err = net.InterfaceAddrs()
			return err
		})
		if err != nil {
			continue // gone since the listing, or not enterable
		}
		e := netnsEntry{path: t.NetnsPath, ino: t.NetnsInode}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() {
				continue
			}
			if !slices.Contains(out[ip], e) {
				out[ip] = append(out[ip], e)
			}
		}
	}
	return out, nil
}
