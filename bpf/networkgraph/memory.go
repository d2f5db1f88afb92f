package networkgraph

import (
	"encoding/binary"
)

// Sizes of the kernel's own structures that the map estimates use: a hash
// table element's header (struct htab_elem, with its LRU node), a bucket
// (struct bucket), and what a map and a loaded program cost beyond their
// entries (struct bpf_map, the program's JIT image and verifier-kept
// data), rounded up.
const (
	htabElemHeader = 48
	htabBucket     = 16
	mapOverhead    = 4 << 10
	progOverhead   = 64 << 10
)

// numMaps and numProgs are the most maps and programs Load creates
// without Options.Socket (the tail-call variant's; the tag-free one has two
// maps fewer).
const (
	numMaps  = 9
	numProgs = 3
)

// FlowsFor is the size of the flows map (Options.MaxFlows) Load takes
// for maxEdges edges when MaxFlows is 0: four flows per edge (a client
// talks to a server from several ports), from 1024 to DefaultMaxFlows.
func FlowsFor(maxEdges uint32) uint32 {
	return uint32(min(max(4*uint64(maxEdges), 1024), DefaultMaxFlows))
}

// MemoryEstimate is the most kernel memory, in bytes, that Load(opts)
// pins on a machine with ncpu possible CPUs: every map full, per-CPU maps
// times ncpu, plus each map's and program's own overhead. It errs on the
// high side of what the kernel reports for the maps (the memlock of
// /proc/PID/fdinfo, TestMemoryEstimate). The default options take about
// 10.6 MiB on 2 CPUs (the kernel accounts 9.0 MiB for
// the maps), 7.5 MiB of it the flows map; max-edges=1024 about 0.9 MiB.
// Options.Socket adds about 0.45 MiB, nearly all of it the watched
// namespaces (0.31 MiB accounted); its connection records live on their
// sockets, about 100 bytes each, charged to the socket.
func MemoryEstimate(opts Options, ncpu int) uint64 {
	if opts.MaxEdges == 0 {
		opts.MaxEdges = DefaultMaxEdges
	}
	if opts.MaxFlows == 0 {
		opts.MaxFlows = FlowsFor(opts.MaxEdges)
	}
	n := uint64(max(ncpu, 1))
	edges, flows := uint64(opts.MaxEdges), uint64(opts.MaxFlows)
	edgeKey := round8(binary.Size(EdgeKey{}))
	edgeValue := round8(binary.Size(EdgeValue{}))
	flowKey := round8(binary.Size(networkgraphFlowKey{}))
	const flowValue = 8 // struct flow_value: 4 bytes, rounded up
	slot := round8(binary.Size(networkgraphFlowCacheSlot{}))
	var total uint64
	// edges: a hash map, allocated as edges appear.
	total += pow2(edges)*htabBucket + edges*(htabElemHeader+edgeKey+8)
	// counters: a per-CPU array of edgeIDs entries, allocated by Load.
	ids := uint64(edgeIDs(opts.MaxEdges, ncpu))
	total += ids*edgeValue*n + ids*8
	// free_ids: a queue of edge ids.
	total += (ids + 1) * 4
	// flows: an LRU hash map, preallocated.
	total += pow2(flows)*htabBucket + flows*(htabElemHeader+flowKey+flowValue)
	// flow_cache: 256 slots per CPU; stats: per-CPU counters; the rest
	// is a few words.
	total += 256 * n * slot
	total += uint64(NumStats) * 8 * n
	total += numMaps*mapOverhead + numProgs*progOverhead
	if opts.Socket {
		// conns: socket storage, a record on each socket a walk found
		// open, charged to the socket (its optmem); watched (4096
		// namespaces), preallocated; first_walks, a word; the TCP state
		// program and the iterator.
		total += 4096*htabBucket + 4096*(htabElemHeader+8+8)
		total += 3*mapOverhead + 2*progOverhead
	}
	return total
}

func round8(n int) uint64 { return (uint64(n) + 7) &^ 7 }

// pow2 rounds n up to a power of two.
func pow2(n uint64) uint64 {
	p := uint64(1)
	for p < n {
		p <<= 1
	}
	return p
}
