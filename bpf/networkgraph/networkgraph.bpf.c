//go:build ignore

// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// network-graph: counts the TCP connections and UDP streams of each
// watched network namespace into the edges map, never copying a packet to
// user space. It has two entry points sharing one body:
//
//   - network_graph_tcx, run at TCX ingress and egress of every interface
//     of the namespace (the default: it sees each packet in place, at no
//     cost beyond its own instructions);
//   - network_graph_socket, a socket filter on an AF_PACKET (SOCK_DGRAM,
//     ETH_P_ALL) socket in the namespace (for kernels without TCX; the
//     packet tap costs a clone per transmitted packet).
//
// With attach=socket (the default where the kernel allows it), TCP is
// counted per connection at its socket instead, and the TCX program lets
// TCP packets by at once (tcp_at_socket): network_graph_tcp_state, a
// program on the kernel's inet_sock_set_state tracepoint, follows each
// connection of a watched namespace from its handshake to its close, and
// network_graph_iter_tcp, a TCP socket iterator run by user space in
// each watched namespace at every interval, reads the counters of the
// live ones. See "attach=socket" below.
//
// The same two programs are attached in every watched namespace. Each
// tags a packet with the namespace of the device it is seen on: the low
// 32 bits of the namespace's cookie, read through the kernel's sk_buff
// (bpf_cast_to_kern_ctx: Linux 6.2 with BTF). User space reads the same
// cookie with SO_NETNS_COOKIE. Cookies are handed out in sequence and
// never reused, so tags differ until 2^32 namespaces have been created
// (user space refuses a collision). At tc, the programs read the hook
// (ingress or egress, and loopback) and the network header offset from
// the sk_buff too.
//
// Kernels without that (older, or without BTF) take the tail-call
// variant: per namespace (and, at tc, per hook), user space loads a tiny
// tag program that writes the namespace's tag into skb->cb[0] (at tc also
// the network header offset into cb[1] and the hook into cb[2]) and
// tail-calls network_graph or network_graph_tc through the ProgramArray
// entry or entry_tc. A ProgramArray can outlive everything that used it:
// Linux clears it in a work item when its last user reference goes, and
// when a user reference is taken and dropped again meanwhile (anyone
// opening the map by ID: bpftool map show), the second clear takes a map
// reference that is never put back, and the map stays in the kernel for
// good. Where the kernel allows it, the tag-free programs avoid it.
//
// Loopback is hooked at egress only: every packet it transmits, the same
// device receives in the same namespace, so one run counts the packet for
// both ends (HOOK_LOOPBACK). That halves the runs per loopback packet and
// the TCX attachments of a namespace (each waits for an RCU grace period,
// most of the time a new namespace takes to attach).

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "networkgraph.h"

/* Debian 12's UAPI headers predate TCX (Linux 6.6); its value is fixed. */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#endif

#define MAX_IPV6_EXT_HEADERS 6
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* Sizes are set from user space before loading (MaxEdges, MaxFlows).
 *
 * An edge is a number, its id, found by key in edges. Its counters sit at
 * that index of a per-CPU array, so a busy edge never bounces a cache line
 * between CPUs nor pays for atomic adds, and a packet whose flow is in the
 * flow cache (below) reaches its counters with an array index instead of
 * a hash-map lookup. User space sums the CPUs' counters when it reads them.
 *
 * A new edge takes an id from free_ids, or, while that is empty, the next
 * id never handed out (next_edge_id, below edge_ids): loading costs no
 * more for a million edges than for a hundred. There are a few more ids
 * than the edges map holds edges: a run that loses the race to create an
 * edge holds its id until its insert fails, and without spare ones
 * another CPU could find none left for an edge the map still has room
 * for (TestEdgeIDsRace). User space deletes the
 * edges of a namespace only once that namespace's programs are detached
 * (no packet can reach them through a cached id any more), zeroes their
 * counters and pushes their ids into free_ids. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct edge_key);
	__type(value, __u32);
} edges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct edge_value);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16384);
	__type(value, __u32);
} free_ids SEC(".maps");

/* attach=socket: TCP is counted at the socket (network_graph_tcp_state and
 * network_graph_iter_tcp), so the packet programs let it by. Set by user
 * space before loading; the verifier drops the dead branch. */
volatile const __u32 tcp_at_socket = 0;

/* The number of edge ids: MaxEdges and two spare ones per CPU (loader.go,
 * edgeIDs), set by user space before loading. */
volatile const __u32 edge_ids = 16384;
/* The lowest id never handed out. */
__u32 next_edge_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, enum stat);
	__type(value, __u64);
} stats SEC(".maps");

/* A per-CPU, direct-mapped cache of flow directions and edge ids in front
 * of the flows and edges maps: a packet of a flow this CPU saw last in its
 * slot costs a hash of a few words and a compare instead of two hash-map
 * lookups. CPU c's slots are entries c * FLOW_CACHE_SLOTS on of a plain
 * array (user space sizes it for every possible CPU): that costs one
 * dependent load less per packet than a per-CPU array, whose lookup first
 * fetches the entry's per-CPU pointer. A slot holds the
 * direction the flows map held when it was filled; only a SYN changes a
 * flow's direction, and it refreshes this CPU's slot (another CPU's stale
 * slot would need the same 4-tuple reused with client and server swapped
 * while the slot survives). The first hit in each tick (jiffy: 1 to 10 ms)
 * looks the flow up in the flows map, so the LRU map does not evict a flow
 * because its packets never reach it; the other hits only read their slot
 * (a hit count written back on every packet, to look up every 64th, cost
 * 5 % of a run, and left a flow of few packets unrefreshed). */
#define FLOW_CACHE_SLOTS 256
struct flow_cache_slot {
	struct flow_key key;
	__u8 pkt_type;
	__u8 valid;
	__u8 pad[2];
	__u32 edge_id;   /* the edge the flow counts on */
	__u32 refreshed; /* jiffies (low 32 bits) of the last flows-map lookup */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOW_CACHE_SLOTS); /* times the possible CPUs, set by user space */
	__type(key, __u32);
	__type(value, struct flow_cache_slot);
} flow_cache SEC(".maps");

#define FLOW_KEY_WORDS (sizeof(struct flow_key) / sizeof(__u32))

static __always_inline __u32 flow_slot(const struct flow_key *fk)
{
	const __u32 *w = (const __u32 *)fk;
	/* netns, both ports, and the first and last word of each address
	 * (words 3 and 7 hold IPv4 addresses). */
	__u32 h = w[0] * 0x9e3779b1u;
	h = (h ^ w[1]) * 0x85ebca6bu;
	h = (h ^ w[3] ^ w[6]) * 0xc2b2ae35u;
	h = (h ^ w[7] ^ w[10]) * 0x9e3779b1u;
	return (h >> 16) & (FLOW_CACHE_SLOTS - 1);
}

static __always_inline int flow_key_equal(const struct flow_key *a, const struct flow_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 diff = 0;
#pragma unroll
	for (int i = 0; i < FLOW_KEY_WORDS; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* The socket tag programs tail-call index 0: network_graph. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} entry SEC(".maps");

/* The tc tag programs tail-call index 0: network_graph_tc. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} entry_tc SEC(".maps");

/* The kernel's own structures, as far as the tag-free programs read them:
 * the ___ng suffix keeps the names apart from any header, CO-RE matches
 * them to the running kernel's by name (BTF) and fixes the offsets. */
struct net___ng {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	struct net___ng *net;
} __attribute__((preserve_access_index)) possible_net_t___ng;

struct net_device___ng {
	possible_net_t___ng nd_net;
	unsigned int flags;
} __attribute__((preserve_access_index));

struct sk_buff___ng {
	struct net_device___ng *dev;
	__u8 tc_at_ingress : 1;
	__u16 network_header;
	__u16 mac_header;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

#define NG_IFF_LOOPBACK 0x8

/* device_tag is the tag of the namespace of the device skb is seen on:
 * the low 32 bits of its cookie (no map lookup: this runs for every
 * packet). k is skb as the kernel's sk_buff. A NULL pointer on the way
 * reads as 0 (the kernel guards these loads), which no namespace has as
 * its cookie. */
static __always_inline int device_tag(struct sk_buff___ng *k, __u32 *tag)
{
	__u64 cookie = k->dev->nd_net.net->net_cookie;
	if (!cookie)
		return -1;
	*tag = (__u32)cookie;
	return 0;
}

static __always_inline void count(enum stat stat, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);
	if (v)
		*v += n; /* per-CPU: no atomic needed */
}

/* Parsed network and transport headers. parse fills the flow key as the
 * sender sees the packet (local: source, remote: destination);
 * turn_around makes it the receiver's. The caller sets fk.netns. Keeping
 * the key in the packet spares account a copy of it per end. */
struct packet {
	struct flow_key fk;
	__u8 tcp_flags;
	__u8 hdr_len; /* network and transport headers, options included */
};

/* turn_around swaps the local and remote ends of p's flow key. */
static __always_inline void turn_around(struct packet *p)
{
	__u32 *l = (__u32 *)p->fk.local_addr, *r = (__u32 *)p->fk.remote_addr;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 t = l[i];
		l[i] = r[i];
		r[i] = t;
	}
	/* Both ports, as the word account reads them (see parse_ipv4_fast). */
	__u32 *ports = (__u32 *)&p->fk.local_port;
	*ports = *ports >> 16 | *ports << 16;
}

/* load copies len bytes at offset off of the packet to dst. At tc
 * (direct), bytes in the linear part of the packet are read in place, which
 * costs a bounds check instead of a helper call; socket filters may not
 * read the packet directly and always call bpf_skb_load_bytes. Direct reads
 * are whole words of len bytes (16: four words), whatever the packet's
 * alignment (the verifier allows that where the CPU does, as on x86-64 and
 * arm64); dst must be aligned to len (to 4 for 16). */
static __always_inline int load(struct __sk_buff *skb, int direct, __u32 off, void *dst, __u32 len)
{
	if (direct && off < 256) {
		void *data = (void *)(long)skb->data;
		void *end = (void *)(long)skb->data_end;
		void *src = data + off;
		if (src + len <= end) {
			switch (len) {
			case 1:
				*(__u8 *)dst = *(__u8 *)src;
				return 0;
			case 2:
				*(__u16 *)dst = *(__u16 *)src;
				return 0;
			case 4:
				*(__u32 *)dst = *(__u32 *)src;
				return 0;
			case 16:
#pragma unroll
				for (int i = 0; i < 4; i++)
					((__u32 *)dst)[i] = ((__u32 *)src)[i];
				return 0;
			}
		}
	}
	return bpf_skb_load_bytes(skb, off, dst, len);
}

/* parse_ipv4_fast writes these pairs of flow_key fields as one word. */
_Static_assert(__builtin_offsetof(struct flow_key, local_port) == 4 &&
		       __builtin_offsetof(struct flow_key, remote_port) == 6,
	       "flow_key: ports must share the word at offset 4");
_Static_assert(__builtin_offsetof(struct flow_key, proto) == 8 && __builtin_offsetof(struct flow_key, family) == 9,
	       "flow_key: proto and family must start the word at offset 8");

/* parse_ipv4_fast parses, at tc, the common IPv4 packet: a header without
 * options whose transport header is in the linear part. One bounds check
 * and reads in place, instead of a check (and a fresh read of skb->data
 * and data_end) per field as parse's general path does. Returns 1 when it
 * filled p, -1 for a packet that is not counted (not TCP or UDP, not the
 * first fragment) and 0 when the general path must decide (options, a
 * short linear part). It fills the flow key as the receiver sees the packet
 * when ingress is set (local: destination), sparing tc_run a turn_around. */
static __always_inline int parse_ipv4_fast(struct __sk_buff *skb, __u32 l3, struct packet *p, int ingress)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip = data + l3;

	/* 20 bytes of IPv4 header, then both ports (4) and, for TCP, the
	 * flags (byte 13 of its header). */
	if ((void *)(ip + 24) > end || ip[0] != 0x45)
		return 0;
	if (bpf_ntohs(*(__u16 *)(ip + 6)) & 0x1fff) /* not the first fragment */
		return -1;
	__u8 proto = ip[9];
	if (proto == IPPROTO_TCP) {
		if (tcp_at_socket)
			return -1;
		if ((void *)(ip + 34) > end)
			return 0;
		p->tcp_flags = ip[33];
		p->hdr_len = 20 + (ip[32] >> 4) * 4;
	} else if (proto == IPPROTO_UDP) {
		p->hdr_len = 28;
	} else {
		return -1;
	}
	/* Whole words: account reads the key a word at a time (hash,
	 * compare), and a word load of what was stored in bytes or halves
	 * cannot be forwarded from the store buffer, a stall of a dozen
	 * cycles each. The layout is little-endian (bpfel): local_port,
	 * remote_port; proto, family, pad. */
	__u32 src = *(__u32 *)(ip + 12), dst = *(__u32 *)(ip + 16);
	__u32 sport = bpf_ntohs(*(__u16 *)(ip + 20)), dport = bpf_ntohs(*(__u16 *)(ip + 22));
	*(__u32 *)&p->fk.proto = proto | 4u << 8;
	if (ingress) {
		*(__u32 *)p->fk.local_addr = dst;
		*(__u32 *)p->fk.remote_addr = src;
		*(__u32 *)&p->fk.local_port = dport | sport << 16;
	} else {
		*(__u32 *)p->fk.local_addr = src;
		*(__u32 *)p->fk.remote_addr = dst;
		*(__u32 *)&p->fk.local_port = sport | dport << 16;
	}
	return 1;
}

/* parse fills p from the packet, whose network header starts at offset
 * l3: 0 for SOCK_DGRAM packet sockets (they strip the link-layer header),
 * the link-layer header's length at tc (direct). */
static __always_inline int parse(struct __sk_buff *skb, int direct, __u32 l3, struct packet *p)
{
	__u32 l4;
	__u16 eth_proto = bpf_ntohs((__u16)skb->protocol);

	if (eth_proto == ETH_P_IP) {
		__u8 vhl;
		__u16 frag;
		if (load(skb, direct, l3, &vhl, 1) < 0 || (vhl >> 4) != 4)
			return -1;
		if (load(skb, direct, l3 + 6, &frag, 2) < 0)
			return -1;
		if (bpf_ntohs(frag) & 0x1fff) /* not the first fragment */
			return -1;
		if (load(skb, direct, l3 + 9, &p->fk.proto, 1) < 0)
			return -1;
		if (load(skb, direct, l3 + 12, p->fk.local_addr, 4) < 0 ||
		    load(skb, direct, l3 + 16, p->fk.remote_addr, 4) < 0)
			return -1;
		p->fk.family = 4;
		l4 = l3 + (vhl & 0xf) * 4;
	} else if (eth_proto == ETH_P_IPV6) {
		__u8 nexthdr;
		if (load(skb, direct, l3 + 6, &nexthdr, 1) < 0)
			return -1;
		if (load(skb, direct, l3 + 8, p->fk.local_addr, 16) < 0 ||
		    load(skb, direct, l3 + 24, p->fk.remote_addr, 16) < 0)
			return -1;
		p->fk.family = 6;
		l4 = l3 + 40;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
			__u8 hdr[2] __attribute__((aligned(2)));
			if (nexthdr == IPPROTO_TCP || nexthdr == IPPROTO_UDP)
				break;
			if (load(skb, direct, l4, hdr, 2) < 0)
				return -1;
			switch (nexthdr) {
			case IPPROTO_HOPOPTS:
			case IPPROTO_ROUTING:
			case IPPROTO_DSTOPTS:
				l4 += ((__u32)hdr[1] + 1) * 8;
				break;
			case IPPROTO_AH:
				l4 += ((__u32)hdr[1] + 2) * 4;
				break;
			case IPPROTO_FRAGMENT: {
				__u16 off;
				if (load(skb, direct, l4 + 2, &off, 2) < 0)
					return -1;
				if (bpf_ntohs(off) & 0xfff8) /* not the first fragment */
					return -1;
				l4 += 8;
				break;
			}
			default:
				return -1;
			}
			nexthdr = hdr[0];
		}
		p->fk.proto = nexthdr;
	} else {
		return -1;
	}

	if (p->fk.proto != IPPROTO_TCP && p->fk.proto != IPPROTO_UDP)
		return -1;
	if (p->fk.proto == IPPROTO_TCP && tcp_at_socket)
		return -1;
	__u16 ports[2] __attribute__((aligned(4)));
	if (load(skb, direct, l4, ports, 4) < 0)
		return -1;
	/* As whole words, as parse_ipv4_fast writes them. */
	*(__u32 *)&p->fk.local_port = (__u32)bpf_ntohs(ports[0]) | (__u32)bpf_ntohs(ports[1]) << 16;
	*(__u32 *)&p->fk.proto = (__u32)p->fk.proto | (__u32)p->fk.family << 8;
	__u32 hdr = l4 - l3 + 8;
	if (p->fk.proto == IPPROTO_TCP) {
		__u8 doff;
		if (load(skb, direct, l4 + 12, &doff, 1) < 0 ||
		    load(skb, direct, l4 + 13, &p->tcp_flags, 1) < 0)
			return -1;
		hdr = l4 - l3 + (doff >> 4) * 4;
	}
	p->hdr_len = hdr > 255 ? 255 : hdr;
	return 0;
}

/* parse_tc and parse_socket are parse for each kind of program, as global
 * functions: the verifier checks a global function once, on its own,
 * instead of once more for every path that reaches the call, and the
 * general parse (IPv6 extension headers, IPv4 options) multiplies paths.
 * At tc, common IPv4 packets take the inlined fast path and never call it.
 * Both return 0 when they filled p, -1 for a packet that is not counted. */
__attribute__((noinline)) int parse_tc(struct __sk_buff *skb, __u32 l3, struct packet *p)
{
	if (!p) /* never: the verifier checks a global function's pointers */
		return -1;
	return parse(skb, 1, l3, p);
}

__attribute__((noinline)) int parse_socket(struct __sk_buff *skb, struct packet *p)
{
	if (!p) /* never, as above */
		return -1;
	return parse(skb, 0, 0, p);
}

/* copy_addr copies an address between fields aligned to 4 bytes. */
static __always_inline void copy_addr(__u8 *dst, const __u8 *src)
{
#pragma unroll
	for (int i = 0; i < 4; i++)
		((__u32 *)dst)[i] = ((const __u32 *)src)[i];
}

/* new_edge gives the edge ek a free id, stored in *id. Its counters are
 * zero on every CPU (never used, or zeroed by user space before it freed
 * the id). Fails when every id is taken. */
static __always_inline int new_edge(const struct edge_key *ek, __u32 *id)
{
	if (bpf_map_pop_elem(&free_ids, id) < 0) {
		/* None freed: a fresh one, while any are left. The first check
		 * keeps next_edge_id from climbing once all are taken; CPUs
		 * racing past it take at most one each beyond edge_ids. */
		if (next_edge_id >= edge_ids)
			return -1;
		__u32 fresh = __sync_fetch_and_add(&next_edge_id, 1);
		if (fresh >= edge_ids)
			return -1;
		*id = fresh;
	}
	if (bpf_map_update_elem(&edges, ek, id, BPF_NOEXIST) == 0)
		return 0;
	/* Another CPU created the edge first: use its id, give this one back. */
	bpf_map_push_elem(&free_ids, id, 0);
	__u32 *known = bpf_map_lookup_elem(&edges, ek);
	if (!known)
		return -1;
	*id = *known;
	return 0;
}

/* opens_connection reports whether p is a TCP SYN without ACK: it opens a
 * connection, possibly reusing a 4-tuple, so its direction is its own and
 * never the cached one. */
static __always_inline int opens_connection(const struct packet *p)
{
	return p->fk.proto == IPPROTO_TCP &&
	       (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

/* flow_miss handles a packet whose flow is not in this CPU's flow cache, or
 * a SYN, which may reuse a 4-tuple: it decides the flow's direction (from
 * the flows map, or from this packet for a new flow), finds or creates its
 * edge, stores the edge's id in *edge_id and fills the flow's slot (slot
 * may be NULL). Returns 0, FLOW_UNTRACKED for a TCP packet whose
 * connection's SYN was not seen (counted in stats) or FLOW_NO_EDGE when the
 * edges are full (the caller counts the packet dropped). A global
 * function, so the verifier checks it once, not once per path into it;
 * cached packets, the common case, never call it. */
#define FLOW_UNTRACKED 1
#define FLOW_NO_EDGE 2
__attribute__((noinline)) int flow_miss(const struct packet *p, int outgoing, struct flow_cache_slot *slot,
					 __u32 *edge_id)
{
	if (!p || !edge_id) /* never: the verifier checks a global function's pointers */
		return FLOW_UNTRACKED;
	const struct flow_key *fk = &p->fk;
	__u32 pkt_type = outgoing ? PACKET_OUTGOING : PACKET_HOST;
	struct flow_value fv = {};
	struct flow_value *known = NULL;

	if (opens_connection(p)) {
		fv.pkt_type = pkt_type;
	} else {
		known = bpf_map_lookup_elem(&flows, fk);
		if (known) {
			fv.pkt_type = known->pkt_type;
		} else if (fk->proto == IPPROTO_TCP) {
			if (!(p->tcp_flags & TCP_FLAG_SYN)) {
				/* Mid-connection: its SYN was not seen. */
				count(STAT_TCP_UNTRACKED, 1);
				return FLOW_UNTRACKED;
			}
			/* SYN-ACK whose SYN was missed: the sender is the server. */
			fv.pkt_type = outgoing ? PACKET_HOST : PACKET_OUTGOING;
		} else {
			/* First datagram of a UDP stream. */
			fv.pkt_type = pkt_type;
		}
	}
	if (!known && bpf_map_update_elem(&flows, fk, &fv, BPF_ANY) < 0)
		count(STAT_FLOWS_DROPPED, 1);

	struct edge_key ek = {};
	ek.netns = fk->netns;
	ek.pkt_type = fv.pkt_type;
	ek.proto = fk->proto;
	ek.family = fk->family;
	copy_addr(ek.addr, fk->remote_addr);
	ek.port = fv.pkt_type == PACKET_OUTGOING ? fk->remote_port : fk->local_port;
	__u32 *idp = bpf_map_lookup_elem(&edges, &ek);
	if (idp) {
		*edge_id = *idp;
	} else if (new_edge(&ek, edge_id) < 0) {
		if (slot)
			slot->valid = 0;
		return FLOW_NO_EDGE;
	}
	if (slot) {
		slot->key = *fk;
		slot->pkt_type = fv.pkt_type;
		slot->valid = 1;
		slot->refreshed = bpf_jiffies64();
		slot->edge_id = *edge_id;
	}
	return 0;
}

/* account counts packet p for the end its flow key is seen from (fk.netns
 * its tag), going out of that end when outgoing; the packet's network
 * header is at offset l3. */
static __always_inline void account(struct __sk_buff *skb, const struct packet *p, __u32 l3, int outgoing)
{
	const struct flow_key *fk = &p->fk;
	/* Times are jiffies, the kernel's tick count (a few ms): plenty for
	 * first and last seen, and one load, which the verifier inlines,
	 * instead of a clock read (a third of the program's own time). User
	 * space turns them into CLOCK_MONOTONIC with network_graph_clock. */
	__u64 now = bpf_jiffies64();
	__u64 segs = skb->gso_segs ? skb->gso_segs : 1;
	__u32 edge_id = 0;

	/* This CPU's block of the flow cache. */
	__u32 slot_idx = bpf_get_smp_processor_id() * FLOW_CACHE_SLOTS + flow_slot(fk);
	struct flow_cache_slot *slot = bpf_map_lookup_elem(&flow_cache, &slot_idx);
	if (slot && slot->valid && flow_key_equal(&slot->key, fk) && !opens_connection(p)) {
		/* Now and then, keep the flow recent in the LRU flows map (and
		 * put it back if evicted), so it outlives this slot. */
		if ((__u32)now != slot->refreshed) {
			struct flow_value fv = {.pkt_type = slot->pkt_type};
			slot->refreshed = now;
			if (!bpf_map_lookup_elem(&flows, fk) &&
			    bpf_map_update_elem(&flows, fk, &fv, BPF_ANY) < 0)
				count(STAT_FLOWS_DROPPED, 1);
		}
		edge_id = slot->edge_id;
	} else {
		int miss = flow_miss(p, outgoing, slot, &edge_id);
		if (miss == FLOW_NO_EDGE)
			count(STAT_EDGES_DROPPED, segs);
		if (miss)
			return;
	}

	/* This CPU's counters of the edge. Per CPU, and these programs run
	 * with bottom halves off, so one run never interrupts another on the
	 * same CPU: plain adds are exact. */
	struct edge_value *ev = bpf_map_lookup_elem(&counters, &edge_id);
	if (!ev) {
		count(STAT_EDGES_DROPPED, segs);
		return;
	}
	/* Network-layer bytes on the wire: a GSO packet carries the headers
	 * of its first segment alone, each other segment has its own. */
	__u64 len = skb->len > l3 ? skb->len - l3 : 0;
	if (segs > 1)
		len += (segs - 1) * p->hdr_len;
	ev->packets += segs;
	ev->bytes += len;
	if (!ev->first_seen)
		ev->first_seen = now;
	ev->last_seen = now;
}

/* socket_run counts a packet seen by a packet socket in the namespace
 * tagged tag. */
static __always_inline int socket_run(struct __sk_buff *skb, __u32 tag)
{
	__u32 pkt_type = skb->pkt_type;
	struct packet p = {};
	if ((pkt_type != PACKET_HOST && pkt_type != PACKET_OUTGOING) ||
	    parse_socket(skb, &p) < 0)
		return 0;
	p.fk.netns = tag;
	if (pkt_type == PACKET_HOST)
		turn_around(&p);
	account(skb, &p, 0, pkt_type == PACKET_OUTGOING);
	return 0; /* copy nothing to the socket */
}

/* The tail-call variant's socket program: cb[0] is the namespace tag, set
 * by the tag program. */
SEC("socket")
int network_graph(struct __sk_buff *skb)
{
	return socket_run(skb, skb->cb[0]);
}

/* The tag-free socket program: the same in every namespace. */
SEC("socket")
int network_graph_socket(struct __sk_buff *skb)
{
	__u32 pkt_type = skb->pkt_type, tag;
	if (pkt_type != PACKET_HOST && pkt_type != PACKET_OUTGOING)
		return 0;
	if (device_tag(bpf_cast_to_kern_ctx(skb), &tag) < 0)
		return 0;
	return socket_run(skb, tag);
}

/* tc_run counts a packet seen at tc hook hook in the namespace tagged
 * tag, whose network header is at offset l3. */
static __always_inline int tc_run(struct __sk_buff *skb, __u32 tag, __u32 l3, __u32 hook)
{
	struct packet p = {};
	l3 = l3 > 64 ? 64 : l3;
	/* At ingress, only what is for this host, as the packet socket. */
	if (hook == HOOK_INGRESS && skb->pkt_type != PACKET_HOST)
		return TCX_NEXT;
	int outgoing = hook != HOOK_INGRESS;
	int fast = 0;
	if (bpf_ntohs((__u16)skb->protocol) == ETH_P_IP) {
		fast = parse_ipv4_fast(skb, l3, &p, !outgoing);
		if (fast < 0 || (fast == 0 && parse_tc(skb, l3, &p) < 0))
			return TCX_NEXT;
	} else if (parse_tc(skb, l3, &p) < 0) {
		return TCX_NEXT;
	}
	p.fk.netns = tag;
	if (!outgoing && !fast) /* the fast path turned it already */
		turn_around(&p);
	/* What loopback transmits, it receives: a second round counts the
	 * receiving end (a loop, not a second copy of account). */
#pragma clang loop unroll(disable)
	for (int i = 0; i < 2; i++) {
		account(skb, &p, l3, outgoing);
		if (hook != HOOK_LOOPBACK)
			break;
		turn_around(&p);
		outgoing = 0;
	}
	return TCX_NEXT;
}

/* The tail-call variant's tc program: cb[0] is the namespace tag, cb[1]
 * the network header offset, cb[2] the hook (enum hook); set by the tag
 * program of the hook. */
SEC("tc")
int network_graph_tc(struct __sk_buff *skb)
{
	return tc_run(skb, skb->cb[0], skb->cb[1], skb->cb[2]);
}

/* plain_tcp reports whether the packet, its network header at l3, is
 * IPv4 or IPv6 (without extension headers) carrying TCP: with
 * attach=socket the first thing the tc program asks, so TCP costs it no
 * more than these loads. */
static __always_inline int plain_tcp(struct __sk_buff *skb, __u32 l3)
{
	__u8 *ip = (void *)(long)skb->data + l3;
	if ((void *)(ip + 10) > (void *)(long)skb->data_end)
		return 0;
	switch (bpf_ntohs((__u16)skb->protocol)) {
	case ETH_P_IP:
		return ip[9] == IPPROTO_TCP;
	case ETH_P_IPV6:
		return ip[6] == IPPROTO_TCP;
	}
	return 0;
}

/* The tag-free tc program, the same at every hook of every namespace: the
 * hook is ingress or egress as the kernel says (loopback: its egress,
 * where user space attaches it alone), the network header follows the
 * link-layer header (none on an L3 device). */
SEC("tc")
int network_graph_tcx(struct __sk_buff *skb)
{
	struct sk_buff___ng *k = bpf_cast_to_kern_ctx(skb);
	__u32 l3 = (__u16)(k->network_header - k->mac_header);
	if (l3 > 64) /* no link-layer header we know of */
		return TCX_NEXT;
	if (tcp_at_socket && plain_tcp(skb, l3))
		return TCX_NEXT;
	__u32 tag, hook;
	if (device_tag(k, &tag) < 0)
		return TCX_NEXT;
	if (BPF_CORE_READ_BITFIELD(k, tc_at_ingress))
		hook = HOOK_INGRESS;
	else if (k->dev->flags & NG_IFF_LOOPBACK)
		hook = HOOK_LOOPBACK;
	else
		hook = HOOK_EGRESS;
	return tc_run(skb, tag, l3, hook);
}

/* ---- attach=socket: TCP per connection, at its socket ----
 *
 * Two programs, and a record per connection (conns: the socket's own
 * BPF storage, one pointer away from the socket, freed with it) only for
 * those a walk found open: a short connection costs no allocation, and
 * its close finds it unrecorded with one load.
 *
 * network_graph_iter_tcp walks the TCP sockets of the namespace user
 * space runs it in (bpf_iter tcp), at the attach and at every interval,
 * and counts, for each connection in conns, what it did since the last
 * read. A connection of a watched namespace (watched, by netns cookie
 * tag) not recorded in conns (or recorded in an earlier watch of the
 * namespace: stale) is recorded: at the namespace's first walk it was
 * open before the namespace was watched, and what it did so far is its
 * baseline (not counted); at a later walk it opened since, and is counted
 * from its start. Its direction is HOST when its socket was accepted,
 * OUTGOING otherwise (accepted()).
 *
 * network_graph_tcp_state runs at every state change of every TCP socket
 * of the node (tp_btf/inet_sock_set_state, from the kernel's
 * tcp_set_state, with the socket locked): while a namespace's first walk
 * is pending, it records the connections of watched namespaces at the end
 * of their handshake (from SYN_SENT this end connected, from SYN_RECV it
 * accepted); otherwise a handshake's end costs it a load. When a
 * socket of a watched namespace reaches TCP_CLOSE, it counts what its
 * connection did since its last fold, or, not recorded, all it did, and
 * forgets it: a connection opened and closed between two walks is counted
 * whole, at its close. About five state changes per end and connection,
 * all but two of which return at the first test. (Its first form, a
 * sock_ops program on the cgroup root recording every connection at its
 * handshake, ran at about eight callbacks per end and cost the churn
 * bench more: docs/architecture.md, "What it costs".)
 *
 * The walk and the state changes of one socket never overlap: both run
 * with the socket locked (the TCP iterator takes lock_sock for each full
 * socket it shows). A record goes at the connection's close, or with its
 * socket when its close came while its namespace was not watched; user
 * space never has to sweep them. A namespace watched again gets a new
 * epoch, which makes the records of its earlier watch stale.
 *
 * A connection's segments are the kernel's segs_in + segs_out (each GSO
 * segment once, as at TCX, retransmissions included) and its bytes its
 * payload (bytes_received + bytes_acked) plus hdr (IP and TCP header with
 * options) per segment: the network-layer bytes on the wire. */

/* Watched namespaces, by tag (the low 32 bits of their cookie). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct watch);
} watched SEC(".maps");

/* first_walks[0]: how many watched namespaces await their first walk
 * (WATCH_FIRST), kept by user space. While none does, the end of a
 * handshake has nothing to do and skips the namespace lookup (an array
 * lookup, which the verifier inlines, instead of a hash map's). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} first_walks SEC(".maps");

static __always_inline int first_walks_pending(void)
{
	__u32 k = 0;
	__u32 *n = bpf_map_lookup_elem(&first_walks, &k);
	return n && *n;
}

/* The connections followed, in their sockets' storage (not cloned into
 * the sockets a listener accepts: no BPF_F_CLONE). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn);
} conns SEC(".maps");

/* The kernel's TCP socket as far as read here (CO-RE, as above). */
struct sock_common___ng {
	unsigned short skc_family;
	volatile unsigned char skc_state;
	__u16 skc_num;
	__u16 skc_dport;
	__u32 skc_daddr;
	struct in6_addr skc_v6_daddr;
	possible_net_t___ng skc_net;
} __attribute__((preserve_access_index));

struct tcp_sock___ng {
	__u16 tcp_header_len;
	__u32 segs_in;
	__u32 segs_out;
	__u64 bytes_received;
	__u64 bytes_acked;
} __attribute__((preserve_access_index));

struct bpf_iter_meta___ng {
	void *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp___ng {
	struct bpf_iter_meta___ng *meta;
	struct sock_common___ng *sk_common;
} __attribute__((preserve_access_index));

/* Handshake segments a socket's counters leave out, by direction: an
 * accepted socket is created after the SYN, which its listener received,
 * and counts one segment less than TCX sees for it (TestSocketAndTCXAgree;
 * the connecting end counts every segment). */
#define HANDSHAKE_SEGS_IN(pkt_type) ((pkt_type) == PACKET_HOST ? 1 : 0)
#define HANDSHAKE_SEGS_OUT(pkt_type) 0

#define NG_AF_INET 2
#define NG_AF_INET6 10
#define NG_TCP_ESTABLISHED 1
#define NG_TCP_CLOSE 7

static __always_inline void count_atomic(enum stat stat, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);
	if (v)
		__sync_fetch_and_add(v, n); /* not only in softirq: atomic */
}

/* A TCP connection's end, as the edge key needs it. */
struct tcp_end {
	__u32 family;      /* AF_INET or AF_INET6 */
	__u32 daddr4;      /* AF_INET: remote address */
	__u32 daddr6[4];   /* AF_INET6: remote address */
	__u16 local_port;  /* host byte order */
	__u16 remote_port; /* host byte order */
};

/* conn_edge finds or creates the edge of connection end e in the
 * namespace tagged tag, with direction pkt_type, and fills c for it
 * (edge, header bytes per segment, with tcp_header_len the TCP header
 * with options). */
static __always_inline void conn_edge(const struct tcp_end *e, __u32 tag, __u32 pkt_type, __u32 tcp_header_len,
				      struct conn *c)
{
	struct edge_key ek = {};
	ek.netns = tag;
	ek.pkt_type = pkt_type;
	ek.proto = IPPROTO_TCP;
	ek.port = pkt_type == PACKET_OUTGOING ? e->remote_port : e->local_port;
	__u32 l3 = 40;
	if (e->family == NG_AF_INET) {
		ek.family = 4;
		*(__u32 *)ek.addr = e->daddr4;
		l3 = 20;
	} else if (e->daddr6[0] == 0 && e->daddr6[1] == 0 && e->daddr6[2] == bpf_htonl(0xffff)) {
		/* IPv4-mapped: an IPv6 socket talking IPv4, whose packets TCX
		 * counts as IPv4. */
		ek.family = 4;
		*(__u32 *)ek.addr = e->daddr6[3];
		l3 = 20;
	} else {
		ek.family = 6;
#pragma unroll
		for (int i = 0; i < 4; i++)
			((__u32 *)ek.addr)[i] = e->daddr6[i];
	}
	c->pkt_type = pkt_type;
	c->hdr = l3 + (tcp_header_len ? tcp_header_len : 20);
	__u32 *idp = bpf_map_lookup_elem(&edges, &ek);
	if (idp) {
		c->edge_id = *idp;
	} else if (new_edge(&ek, &c->edge_id) < 0) {
		c->flags |= CONN_NO_EDGE;
	}
}

/* count_conn counts segs segments and payload bytes of connection c on
 * its edge. */
static __always_inline void count_conn(const struct conn *c, __u64 segs, __u64 payload, __u64 now)
{
	if (segs == 0 && payload == 0)
		return;
	if (c->flags & CONN_NO_EDGE) {
		count_atomic(STAT_EDGES_DROPPED, segs);
		return;
	}
	__u32 id = c->edge_id;
	struct edge_value *ev = bpf_map_lookup_elem(&counters, &id);
	if (!ev) {
		count_atomic(STAT_EDGES_DROPPED, segs);
		return;
	}
	/* This CPU's counters, but sock_ops runs in process context too:
	 * atomic adds. */
	__sync_fetch_and_add(&ev->packets, segs);
	__sync_fetch_and_add(&ev->bytes, payload + segs * c->hdr);
	if (!ev->first_seen)
		ev->first_seen = now;
	ev->last_seen = now;
}

/* fold counts on c's edge what its connection did since the last fold:
 * segs_in, segs_out and bytes (received + acked) are its kernel counters
 * now. Folds of one connection never overlap: the TCP state tracepoint
 * runs with the socket locked, and so does the iterator's program (the
 * TCP iterator takes lock_sock for each full socket it shows, Linux 5.15
 * on; attach=socket needs 6.2), so plain loads and stores do. The segment
 * counters are 32 bits and wrap; their advances are taken modulo 2^32. */
static __always_inline void fold(struct conn *c, __u32 segs_in, __u32 segs_out, __u64 bytes, __u64 now)
{
	__u32 in0 = c->segs_in, out0 = c->segs_out;
	__u64 bytes0 = c->payload;
	c->segs_in = segs_in;
	c->segs_out = segs_out;
	c->payload = bytes;
	__u64 segs = (__u64)(__u32)(segs_in - in0) + (__u32)(segs_out - out0);
	__u64 payload = bytes > bytes0 ? bytes - bytes0 : 0;
	count_conn(c, segs, payload, now);
}

/* established_state reports whether a socket in state has finished its
 * handshake and is not closed yet. */
static __always_inline int established_state(__u8 state)
{
	switch (state) {
	case 1:  /* TCP_ESTABLISHED */
	case 4:  /* TCP_FIN_WAIT1 */
	case 5:  /* TCP_FIN_WAIT2 */
	case 8:  /* TCP_CLOSE_WAIT */
	case 9:  /* TCP_LAST_ACK */
	case 11: /* TCP_CLOSING */
		return 1;
	}
	return 0;
}

/* sock_end fills e with the connection end of skc, a TCP socket; it
 * returns -1 for a family network-graph does not count. */
static __always_inline int sock_end(struct sock_common___ng *skc, struct tcp_end *e)
{
	e->family = skc->skc_family;
	e->local_port = skc->skc_num;
	e->remote_port = bpf_ntohs(skc->skc_dport);
	if (e->family == NG_AF_INET) {
		e->daddr4 = skc->skc_daddr;
		return 0;
	}
	if (e->family == NG_AF_INET6) {
#pragma unroll
		for (int i = 0; i < 4; i++)
			e->daddr6[i] = skc->skc_v6_daddr.in6_u.u6_addr32[i];
		return 0;
	}
	return -1;
}

struct sock___ng {
	struct sock_common___ng __sk_common;
	__u16 sk_protocol;
	__u32 sk_max_ack_backlog;
} __attribute__((preserve_access_index));

/* accepted tells the direction of a connected socket: an accepted one is a
 * copy of its listener (sk_clone_lock), the listen() backlog in
 * sk_max_ack_backlog included, which a connecting socket never sets. (A
 * listener with a backlog of 0 leaves its connections looking like
 * connecting ones: counted OUTGOING.) */
static __always_inline __u32 accepted(struct sock___ng *sk)
{
	return sk->sk_max_ack_backlog ? PACKET_HOST : PACKET_OUTGOING;
}

#define NG_TCP_SYN_SENT 2
#define NG_TCP_SYN_RECV 3

/* Values of watched: a namespace is WATCH_FIRST from WatchNetns until the
 * end of its first walk, then WATCH_ON. */
#define WATCH_FIRST 1
#define WATCH_ON 2

/* watch_state is the watched entry of skc's namespace, NULL when it is
 * not watched; tag is set to its tag. */
static __always_inline struct watch *watch_state(struct sock_common___ng *skc, __u32 *tag)
{
	*tag = (__u32)skc->skc_net.net->net_cookie;
	return bpf_map_lookup_elem(&watched, tag);
}

/* new_conn fills c, all zero, for the connection of socket skc, tag's,
 * with local port port and direction pkt_type. It returns -1 for a family
 * not counted. */
static __always_inline int new_conn(struct sock_common___ng *skc, struct tcp_sock___ng *tp, __u32 tag,
				    const struct watch *w, __u16 port, __u32 pkt_type, struct conn *c)
{
	struct tcp_end e = {};
	if (sock_end(skc, &e) < 0)
		return -1;
	e.local_port = port;
	conn_edge(&e, tag, pkt_type, tp->tcp_header_len, c);
	c->epoch = w->epoch;
	return 0;
}

/* recorded is the record of tp's connection made in the current watch w
 * of its namespace, NULL when there is none (or a stale one). */
static __always_inline struct conn *recorded(struct tcp_sock___ng *tp, const struct watch *w)
{
	struct conn *c = bpf_sk_storage_get(&conns, tp, 0, 0);
	return c && c->epoch == w->epoch ? c : 0;
}

/* record stores nc as tp's connection record, over a stale one; it
 * returns the record, or NULL (counted) when the socket's storage is
 * refused (out of memory, or the socket's option memory, optmem_max, is
 * used up). */
static __always_inline struct conn *record(struct tcp_sock___ng *tp, const struct conn *nc)
{
	struct conn *c = bpf_sk_storage_get(&conns, tp, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c) {
		count_atomic(STAT_CONNS_DROPPED, 1);
		return 0;
	}
	*c = *nc;
	return c;
}

/* fold_recorded counts on c's edge what tp's connection did since c was
 * last folded, from tp's counters now; a connection recorded at its
 * handshake, or counted whole (never found by a walk), gets the handshake
 * segments its socket's counters leave out. */
static __always_inline void fold_recorded(struct conn *c, struct tcp_sock___ng *tp, __u64 now)
{
	__u32 in = tp->segs_in, out = tp->segs_out;
	if (!(c->flags & CONN_FOUND)) {
		in += HANDSHAKE_SEGS_IN(c->pkt_type);
		out += HANDSHAKE_SEGS_OUT(c->pkt_type);
	}
	fold(c, in, out, tp->bytes_received + tp->bytes_acked, now);
}

struct inet_sock___ng {
	__u16 inet_sport;
} __attribute__((preserve_access_index));

/* state_established notes a handshake's end in a watched namespace, while
 * some first walk is pending: if its namespace's is, the connection is
 * recorded (from zero), so the walk does not take it for one open before.
 * Otherwise nothing is recorded: a connection closed before the next walk
 * is counted whole at its close, and a walk records those still open. */
static __always_inline void state_established(struct sock___ng *sk, __u32 pkt_type)
{
	struct sock_common___ng *skc = &sk->__sk_common;
	__u32 tag;
	struct watch *w = watch_state(skc, &tag);
	if (!w || w->state != WATCH_FIRST)
		return;
	struct tcp_sock___ng *tp = (struct tcp_sock___ng *)bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	struct conn c = {};
	if (new_conn(skc, tp, tag, w, skc->skc_num, pkt_type, &c) < 0)
		return;
	record(tp, &c);
}

/* state_closed counts what a connection of a watched namespace reaching
 * TCP_CLOSE did since its last fold, or, when no walk recorded it (it
 * opened after the namespace's first walk), all it did, and forgets it.
 * The namespace is asked first: every TCP socket of the node closes here,
 * and most are not watched (the records of a namespace no longer watched
 * are stale: recorded() ignores them). */
static __always_inline void state_closed(struct sock___ng *sk, int oldstate)
{
	struct sock_common___ng *skc = &sk->__sk_common;
	__u32 tag;
	struct watch *w = watch_state(skc, &tag);
	if (!w)
		return;
	struct tcp_sock___ng *tp = (struct tcp_sock___ng *)bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return;
	__u64 now = bpf_jiffies64();
	struct conn *c = recorded(tp, w);
	if (c) {
		fold_recorded(c, tp, now);
		/* Gone now, not with the socket: a closed socket may connect
		 * again, its counters from zero. */
		bpf_sk_storage_delete(&conns, tp);
		return;
	}
	/* Not recorded: a listener, or a connection whose handshake failed
	 * (not counted, as before its end nothing is); or one open before
	 * the namespace was watched and closed before its first walk (what it
	 * did is not the trace's); or one that ended its handshake after the
	 * first walk, counted whole. */
	if (w->state != WATCH_ON || !established_state(oldstate))
		return;
	/* The local port: tcp_set_state has released it by now (skc_num is
	 * 0), the source port of its segments stays. */
	__u16 port = bpf_ntohs(((struct inet_sock___ng *)tp)->inet_sport);
	struct conn nc = {};
	if (new_conn(skc, tp, tag, w, port, accepted(sk), &nc) < 0)
		return;
	fold_recorded(&nc, tp, now);
}

SEC("tp_btf/inet_sock_set_state")
int network_graph_tcp_state(__u64 *ctx)
{
	struct sock___ng *sk = (struct sock___ng *)ctx[0];
	int oldstate = (int)ctx[1], newstate = (int)ctx[2];
	if (newstate != NG_TCP_ESTABLISHED && newstate != NG_TCP_CLOSE)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == NG_TCP_ESTABLISHED) {
		/* Only while a first walk is pending. */
		if (first_walks_pending() && (oldstate == NG_TCP_SYN_SENT || oldstate == NG_TCP_SYN_RECV))
			state_established(sk, oldstate == NG_TCP_SYN_SENT ? PACKET_OUTGOING : PACKET_HOST);
	} else if (newstate == NG_TCP_CLOSE) {
		state_closed(sk, oldstate);
	}
	return 0;
}

SEC("iter/tcp")
int network_graph_iter_tcp(struct bpf_iter__tcp___ng *ctx)
{
	struct sock_common___ng *skc = ctx->sk_common;
	if (!skc)
		return 0;
	__u32 tag;
	struct watch *w = watch_state(skc, &tag);
	if (!w)
		return 0;
	__u8 state = skc->skc_state;
	__u64 now = bpf_jiffies64();
	struct tcp_sock___ng *tp = (struct tcp_sock___ng *)bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0; /* a request or time-wait socket */
	struct conn *c = recorded(tp, w);
	if (c) {
		fold_recorded(c, tp, now);
		return 0;
	}
	if (!established_state(state))
		return 0;
	/* Not recorded: at the namespace's first walk, open before it was
	 * watched, recorded with what it did so far as its baseline (not
	 * counted); at a later walk, opened since the first one, counted
	 * from its start and recorded. */
	struct conn nc = {};
	if (new_conn(skc, tp, tag, w, skc->skc_num, accepted((struct sock___ng *)tp), &nc) < 0)
		return 0;
	if (w->state == WATCH_FIRST) {
		nc.flags |= CONN_FOUND;
		nc.segs_in = tp->segs_in;
		nc.segs_out = tp->segs_out;
		nc.payload = tp->bytes_received + tp->bytes_acked;
	}
	/* Recorded first, counted then: not recorded (no storage), its close
	 * counts it whole. */
	c = record(tp, &nc);
	if (!c || w->state == WATCH_FIRST)
		return 0;
	fold_recorded(c, tp, now);
	return 0;
}

/* clock_sample[0] is jiffies and clock_sample[1] CLOCK_MONOTONIC at tick
 * resolution, read together by network_graph_clock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} clock_sample SEC(".maps");

/* network_graph_clock samples both clocks into clock_sample; user space
 * runs it (BPF_PROG_TEST_RUN) before it reads the edges, to convert their
 * times. Never attached. */
SEC("socket")
int network_graph_clock(struct __sk_buff *skb)
{
	__u32 k0 = 0, k1 = 1;
	__u64 *j = bpf_map_lookup_elem(&clock_sample, &k0);
	__u64 *ns = bpf_map_lookup_elem(&clock_sample, &k1);
	if (j && ns) {
		*j = bpf_jiffies64();
		*ns = bpf_ktime_get_coarse_ns();
	}
	return 0;
}

char _license[] SEC("license") = "Dual BSD/GPL";
