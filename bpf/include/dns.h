/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Types shared by the dns eBPF program and its Go loader (bpf2go generates
 * the Go side from these with -type). */
#ifndef GADGET_DNS_H
#define GADGET_DNS_H

#include <linux/types.h>

/* At most this many bytes of a packet's DNS payload are copied: a whole
 * classic UDP message (512 bytes), or its TCP form with the 2-byte length
 * prefix. */
#define DNS_MAX_UDP_PAYLOAD 512
#define DNS_MAX_PAYLOAD 514

/* One captured DNS packet, as it goes through the ring buffer. */
struct dns_event {
	__u64 timestamp; /* CLOCK_MONOTONIC ns when the packet was seen */
	__u32 netns;     /* tag of the watched netns the program belongs to */
	__u16 len;       /* bytes of data filled */
	__u16 orig_len;  /* the payload's length in the packet (capped at 65535) */
	__u16 sport;     /* host byte order */
	__u16 dport;
	__u8 family;     /* 4 or 6 */
	__u8 proto;      /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 pkt_type;   /* PACKET_HOST (received) or PACKET_OUTGOING (sent) */
	__u8 pad;
	__u8 saddr[16];  /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u8 data[DNS_MAX_PAYLOAD]; /* the payload's first len bytes */
};

/* Indexes of the stats map: what the program could not do. */
enum dns_stat {
	DNS_STAT_RING_FULL = 0, /* DNS packets lost: the ring buffer was full */
	DNS_STAT_LOAD_FAILED,   /* DNS packets whose payload could not be read */
	DNS_STAT_MAX,
};

#endif
