#!/usr/bin/env bash
# Connection churn under network-graph (issue 7, item 2), root only:
#
#   hack/bench/churn.sh GADGET OUTDIR [ROUNDS] [SECONDS]
#
# Two network namespaces, gbench-c-a (client) and gbench-c-b (server),
# joined by a veth pair. hack/bench/churn opens as many TCP connections as
# it can (4 in flight; each: connect, 1 byte each way, server closes) for
# SECONDS. Each round runs A (no capture), B (network-graph attached to
# both namespaces) and E (a trivial program on TCX ingress and egress of
# both veth ends, hack/bench/tap -mode tcx: B's hooks without the
# program's work), in rotating order, and writes to OUTDIR/churn.tsv:
#   round  config  connections/s  connections  errors
# In B it checks that both edges exist and that each counted at least 4
# packets per completed connection (SYN, SYN-ACK, the two data segments
# and the FINs all pass both filters, so 4 is a floor, not an estimate):
# OUTDIR/churn-accounting.tsv:
#   round  connections  client-edge-packets  server-edge-packets  warnings
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: $0 GADGET OUTDIR [ROUNDS] [SECONDS]" >&2; exit 2; }
GADGET=$(realpath "$1")
OUT=$2
ROUNDS=${3:-5}
SECS=${4:-3}
bench_need_root
bench_install jq:jq
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/gbench-churn.XXXXXX)
trap 'bench_cleanup; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

go build -o "$TMP/churn" "$HERE/churn"
go build -o "$TMP/tap" "$HERE/tap"
CHURN=$TMP/churn

A=gbench-c-a
B=gbench-c-b
bench_netns_add $A
bench_netns_add $B
bench_pair $A $B 10.99.1.1/24 10.99.1.2/24
# A wide port range on the client; TIME_WAIT stays on the server side.
ip netns exec $A sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
bench_bg ip netns exec $B "$CHURN" server -listen 10.99.1.2:7000 2>"$TMP/server.log"
SERVER=$BENCH_LAST_PID
bench_wait_for "$TMP/server.log" 'msg=listening' 10

TSV=$OUT/churn.tsv
ACC=$OUT/churn-accounting.tsv
: >"$TSV"
: >"$ACC"

run_client() {
	ip netns exec $A "$CHURN" client -addr 10.99.1.2:7000 -duration "${SECS}s" -workers 4 >"$TMP/client.json"
	jq -r --arg r "$1" --arg c "$2" '[$r, $c, (.rate | floor), .connections, .errors] | @tsv' "$TMP/client.json" >>"$TSV"
}

run_config() {
	local round=$1 cfg=$2 pid conns
	case $cfg in
	A) run_client "$round" A ;;
	B)
		bench_bg "$GADGET" run network-graph --netns $A --netns $B -o json --interval 2s \
			>"$TMP/gadget.json" 2>"$TMP/gadget.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/gadget.log" 'msg=tracing' 20
		run_client "$round" B
		bench_stop "$pid" INT
		conns=$(jq -r .connections "$TMP/client.json")
		jq -r --arg r "$round" --argjson n "$conns" '
			def edge(pod; t; ip): [.[] | select(.pod == pod and .proto == "tcp" and .pktType == t and .ip == ip and .port == 7000)] | map(.packets) | add // 0;
			[$r, $n, edge("gbench-c-a"; "OUTGOING"; "10.99.1.2"), edge("gbench-c-b"; "HOST"; "10.99.1.1"),
			 ([.[] | select(.type == "warn")] | length)] | @tsv' \
			"$TMP/gadget.json" >>"$ACC"
		;;
	E)
		bench_bg "$TMP/tap" -mode tcx -netns $A -netns $B 2>"$TMP/tap.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/tap.log" 'msg=ready' 20
		run_client "$round" E
		bench_stop "$pid" INT
		;;
	esac
}

for ((r = 1; r <= ROUNDS; r++)); do
	bench_log "churn: round $r/$ROUNDS, load $(load_avg)"
	k=$(((r - 1) % 3))
	order=ABE
	order=${order:k}${order:0:k}
	for ((i = 0; i < 3; i++)); do run_config "$r" "${order:i:1}"; done
done
bench_stop "$SERVER"
bench_log "churn: done"
