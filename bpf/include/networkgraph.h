/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Types shared by the network-graph eBPF program and its Go loader
 * (bpf2go generates the Go side from these with -type). */
#ifndef GADGET_NETWORKGRAPH_H
#define GADGET_NETWORKGRAPH_H

#include <linux/types.h>

/* One edge of the graph, as seen from one watched network namespace. */
struct edge_key {
	__u32 netns;    /* tag of the watched netns, set by its tag program */
	__u16 port;     /* host byte order: server port */
	__u8 pkt_type;  /* PACKET_HOST (incoming) or PACKET_OUTGOING */
	__u8 proto;     /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family;    /* 4 or 6 */
	__u8 pad[3];
	__u8 addr[16] __attribute__((aligned(4))); /* remote address; IPv4 in the first 4 bytes */
};

struct edge_value {
	__u64 packets;    /* segments, counting each GSO segment */
	__u64 bytes;      /* network-layer bytes on the wire: each segment's headers included */
	__u64 first_seen; /* jiffies (loader.go converts); 0: never on this CPU */
	__u64 last_seen;
};

/* A flow as seen from one netns: local and remote ends. Its value
 * remembers the direction decided by the flow's first packet (UDP) or
 * SYN (TCP), so later packets count on the same edge. */
struct flow_key {
	__u32 netns;
	__u16 local_port;
	__u16 remote_port;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
	__u8 local_addr[16] __attribute__((aligned(4)));
	__u8 remote_addr[16] __attribute__((aligned(4)));
};

struct flow_value {
	__u8 pkt_type;
	__u8 pad[3];
};

/* attach=socket: a TCP connection followed at its socket, in the
 * socket's own storage (bpf/networkgraph/networkgraph.bpf.c,
 * "attach=socket"). Its counters are the connection's kernel counters as
 * of the last time they were counted on its edge: from the handshake on,
 * or, for a connection found open by the iterator, from when it was
 * found. */
struct conn {
	__u32 edge_id;
	__u32 epoch;    /* the watch of its namespace it was recorded in (struct watch) */
	__u32 hdr;      /* header bytes per segment: IP + TCP with options */
	__u8 flags;     /* enum conn_flag */
	__u8 pkt_type;  /* PACKET_OUTGOING (it connected) or PACKET_HOST (it accepted) */
	__u8 pad[2];
	__u32 segs_in;  /* tcp_sock.segs_in */
	__u32 segs_out; /* tcp_sock.segs_out */
	__u64 payload;  /* tcp_sock.bytes_received + bytes_acked */
};

/* attach=socket: a watched namespace (the watched map's value). epoch
 * tells this watch of the namespace from earlier ones: a connection
 * recorded in another is stale, and ignored (its edge may be gone, its id
 * reused). */
struct watch {
	__u32 epoch;
	__u8 state;     /* WATCH_FIRST until the namespace's first walk, then WATCH_ON */
	__u8 pad[3];
};

/* conn.flags */
enum conn_flag {
	CONN_FOUND = 1,   /* found by the iterator, not at its handshake: no handshake segments to add */
	CONN_NO_EDGE = 2, /* the edge map was full: counted as dropped */
};

/* The TCX hook a tc tag program is attached to (skb->cb[2]). */
enum hook {
	HOOK_INGRESS = 0,
	HOOK_EGRESS = 1,
	HOOK_LOOPBACK = 2, /* egress of a loopback device: counts both ends */
};

/* Indexes of the per-CPU stats array. */
enum stat {
	STAT_EDGES_DROPPED = 0,  /* packets not counted: edge map full */
	STAT_TCP_UNTRACKED = 1,  /* TCP packets of connections whose SYN was not seen */
	STAT_FLOWS_DROPPED = 2,  /* flows not remembered: flow map update failed */
	STAT_CONNS_DROPPED = 3,  /* attach=socket: TCP connections not followed: no socket storage */
	STAT_MAX = 4,
};

#endif
