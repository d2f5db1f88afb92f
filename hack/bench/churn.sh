#!/usr/bin/env bash
# Connection churn under network-graph (issue 7, item 2), root only:
#
#   hack/bench/churn.sh OUTDIR [SECONDS]
#
# Two network namespaces, gbench-c-a (client) and gbench-c-b (server),
# joined by a veth pair. `hack/bench/churn alternate` opens as many TCP
# connections as it can (4 in flight; each: connect, 1 byte each way,
# server closes) for SECONDS (20), while it attaches network-graph to both
# namespaces for one 0.5 s slice and detaches it for the next, in turn, and
# compares each slice with it to its neighbours without: both sides of each
# comparison see the machine in the same state. The same with a program
# that only returns TCX_NEXT at TCX ingress and egress of both veth ends
# (the hooks of attach=tcx without its work), with that and one that only
# returns on the TCP state tracepoint (attach=socket's hooks, the default)
# and with nothing switched (how far the ratio strays by itself). One JSON object per run, in
# OUTDIR/churn.jsonl; with network-graph it also says whether the client's
# and the server's edges counted at least 4 packets (SYN, SYN-ACK, request,
# reply: a floor) for each connection that ran wholly while attached.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 OUTDIR [SECONDS]" >&2; exit 2; }
OUT=$1
SECS=${2:-20}
bench_need_root
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/gbench-churn.XXXXXX)
trap 'bench_cleanup; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

go build -o "$TMP/churn" "$HERE/churn"
CHURN=$TMP/churn

A=gbench-c-a
B=gbench-c-b
bench_netns_add $A
bench_netns_add $B
bench_pair $A $B 10.99.1.1/24 10.99.1.2/24
# A wide port range on the client; TIME_WAIT stays on the server side.
ip netns exec $A sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
bench_bg ip netns exec $B $(bench_pin 1) "$CHURN" server -listen 10.99.1.2:7000 2>"$TMP/server.log"
SERVER=$BENCH_LAST_PID
bench_wait_for "$TMP/server.log" 'msg=listening' 10

: >"$OUT/churn.jsonl"
for mode in none trivial trivial-socket network-graph; do
	bench_log "churn: alternate slices, $mode switched, load $(load_avg)"
	$(bench_pin 0) "$CHURN" alternate -a $A -b $B -addr 10.99.1.2:7000 -seconds "$SECS" -slice 500ms -workers 4 -mode "$mode" \
		>>"$OUT/churn.jsonl" 2>"$TMP/churn.log" ||
		{ cat "$TMP/churn.log" >&2; bench_die "churn alternate -mode $mode failed"; }
done
bench_stop "$SERVER"
bench_log "churn: done"
