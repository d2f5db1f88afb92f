//go:build ignore

// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
//
// dns: copies the DNS packets of a watched network namespace into a ring
// buffer for user space to parse; everything else is left alone.
//
// It is a socket filter on an AF_PACKET (SOCK_DGRAM, ETH_P_ALL) socket in
// the namespace: one socket sees every interface of the namespace, those
// created later included, so nothing has to follow the interfaces. The
// filter always returns 0: the socket itself never queues a packet.
//
// The socket is SOCK_DGRAM: the filter sees each packet from its network
// header on (offset 0), incoming and outgoing alike. Payloads are read with
// bpf_skb_load_bytes, which also reads the paged part of a packet (a TCP
// segment's payload usually is).
//
// A packet that is not DNS costs one load of its IP header and ports and
// a few comparisons: 36 to 70 ns per packet beyond a program that does
// nothing, measured by TestCapture on this machine (the packet tap itself,
// a clone per transmitted packet, costs more).
//
// A DNS packet (source or destination port dns_port, UDP or TCP, IPv4 or
// IPv6 without extension headers, first fragment only) with a payload is
// copied, at most DNS_MAX_UDP_PAYLOAD bytes for UDP and
// DNS_MAX_PAYLOAD (the 2-byte length prefix and 512 bytes) for TCP, with
// its addresses, ports and the time. A full ring buffer drops the packet
// and counts it in stats.
//
// User space loads the program once per namespace with netns_tag set, all
// sharing the ring buffer and stats map.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "dns.h"

/* Set by user space before loading. */
volatile const __u32 netns_tag = 0;
volatile const __u16 dns_port = 53;

/* Sized by user space (Options.RingSize). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 19);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DNS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Force the types into the object for bpf2go's -type. */
const struct dns_event *unused_dns_event __attribute__((unused));
const enum dns_stat *unused_dns_stat __attribute__((unused));

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);
	if (v)
		(*v)++;
}

SEC("socket")
int dns_capture(struct __sk_buff *skb)
{
	__u32 pkt_type = skb->pkt_type;
	if (pkt_type != PACKET_HOST && pkt_type != PACKET_OUTGOING)
		return 0;

	/* One load of the IP header and the ports behind it (without IPv4
	 * options, the common case); a packet too short for that has no
	 * ports to look at. */
	__u8 family, proto;
	__u32 l4off, iplen;
	__be16 ports[2];
	union {
		struct {
			struct iphdr ip;
			__be16 ports[2];
		} v4;
		struct {
			struct ipv6hdr ip;
			__be16 ports[2];
		} v6;
	} h;
	__u16 l3proto = bpf_ntohs((__u16)skb->protocol);
	if (l3proto == ETH_P_IP) {
		if (bpf_skb_load_bytes(skb, 0, &h.v4, sizeof(h.v4)) < 0)
			return 0;
		/* Not the first fragment: no ports to look at. */
		if (h.v4.ip.ihl < 5 || (h.v4.ip.frag_off & bpf_htons(0x1fff)))
			return 0;
		proto = h.v4.ip.protocol;
		if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
			return 0;
		l4off = h.v4.ip.ihl * 4;
		if (l4off == sizeof(h.v4.ip)) {
			ports[0] = h.v4.ports[0];
			ports[1] = h.v4.ports[1];
		} else if (bpf_skb_load_bytes(skb, l4off, ports, sizeof(ports)) < 0) {
			return 0;
		}
		family = 4;
		iplen = bpf_ntohs(h.v4.ip.tot_len);
	} else if (l3proto == ETH_P_IPV6) {
		if (bpf_skb_load_bytes(skb, 0, &h.v6, sizeof(h.v6)) < 0)
			return 0;
		proto = h.v6.ip.nexthdr;
		if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
			return 0;
		ports[0] = h.v6.ports[0];
		ports[1] = h.v6.ports[1];
		family = 6;
		l4off = sizeof(h.v6.ip);
		iplen = sizeof(h.v6.ip) + bpf_ntohs(h.v6.ip.payload_len);
	} else {
		return 0;
	}
	__be16 port = bpf_htons(dns_port);
	if (ports[0] != port && ports[1] != port)
		return 0;

	/* A DNS packet: find its payload. */
	__u32 hdr = 8, max = DNS_MAX_UDP_PAYLOAD;
	if (proto == IPPROTO_TCP) {
		__u8 doff;
		if (bpf_skb_load_bytes(skb, l4off + 12, &doff, 1) < 0)
			return 0;
		hdr = (doff >> 4) * 4;
		if (hdr < 20)
			return 0;
		max = DNS_MAX_PAYLOAD;
	}
	if (iplen <= l4off + hdr)
		return 0; /* no payload, e.g. a bare TCP ACK */
	__u32 len = iplen - l4off - hdr;

	struct dns_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(DNS_STAT_RING_FULL);
		return 0;
	}
	ev->timestamp = bpf_ktime_get_ns();
	ev->netns = netns_tag;
	ev->orig_len = len > 0xffff ? 0xffff : len;
	ev->sport = bpf_ntohs(ports[0]);
	ev->dport = bpf_ntohs(ports[1]);
	ev->family = family;
	ev->proto = proto;
	ev->pkt_type = pkt_type;
	ev->pad = 0;
	if (family == 4) {
		__builtin_memset(ev->saddr, 0, sizeof(ev->saddr));
		__builtin_memset(ev->daddr, 0, sizeof(ev->daddr));
		__builtin_memcpy(ev->saddr, &h.v4.ip.saddr, 4);
		__builtin_memcpy(ev->daddr, &h.v4.ip.daddr, 4);
	} else {
		__builtin_memcpy(ev->saddr, &h.v6.ip.saddr, 16);
		__builtin_memcpy(ev->daddr, &h.v6.ip.daddr, 16);
	}
	if (len > max)
		len = max;
	/* Bounds the verifier can see: 1 to DNS_MAX_PAYLOAD. */
	if (len < 1 || len > DNS_MAX_PAYLOAD) {
		bpf_ringbuf_discard(ev, 0);
		return 0;
	}
	ev->len = len;
	if (bpf_skb_load_bytes(skb, l4off + hdr, ev->data, len) < 0) {
		bpf_ringbuf_discard(ev, 0);
		count(DNS_STAT_LOAD_FAILED);
		return 0;
	}
	bpf_ringbuf_submit(ev, 0);
	return 0; /* copy nothing to the socket */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
