#!/usr/bin/env bash
# network-graph's attach modes side by side (issue 17), root only:
#
#   hack/bench/socket.sh GADGET OUTDIR [SECONDS]
#
# Two network namespaces, gbench-s-a and gbench-s-b, joined by a veth pair.
# In alternate slices of one run each (hack/bench/internal/alternate: each
# slice with the switched thing on is compared with its neighbours without):
#   - a TCP stream (hack/bench/flood -proto tcp), a 64-byte UDP flood
#     (hack/bench/flood) and TCP connection churn (hack/bench/churn:
#     connect, 1 byte each way, close; 4 in flight)
#   - each with network-graph in attach=socket (mode network-graph, the
#     default), attach=tcx (network-graph-tcx) and nothing switched (none:
#     the method's noise floor)
# for SECONDS (20) each, into OUTDIR/socket-flood.jsonl (stream and flood,
# one JSON object a run, "proto" tcp or udp) and OUTDIR/socket-churn.jsonl.
# Then the kernel time of network-graph's programs during one 2-second TCP
# stream and one churn run, with `gadget run network-graph` in each mode
# (hack/bench/tap -mode stats), into OUTDIR/socket-progstats-MODE-LOAD.json (and the load moved: bytes
# received, or connections, in socket-progstats-MODE-LOAD.load).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: $0 GADGET OUTDIR [SECONDS]" >&2; exit 2; }
GADGET=$(realpath "$1")
OUT=$2
SECS=${3:-20}
bench_need_root
bench_install iperf3:iperf3 jq:jq
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/gbench-socket.XXXXXX)
trap 'bench_cleanup; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
go build -o "$TMP/flood" "$HERE/flood"
go build -o "$TMP/churn" "$HERE/churn"
go build -o "$TMP/tap" "$HERE/tap"

A=gbench-s-a
B=gbench-s-b
bench_iperf_pair $A $B 10.99.2
ip netns exec $A sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
bench_bg ip netns exec $B "$TMP/churn" server -listen 10.99.2.2:7000 2>"$TMP/server.log"
CHURN_SERVER=$BENCH_LAST_PID
bench_wait_for "$TMP/server.log" 'msg=listening' 10

: >"$OUT/socket-flood.jsonl"
: >"$OUT/socket-churn.jsonl"
MODES=${BENCH_SOCKET_MODES:-none network-graph network-graph-tcx}
port=5400
for mode in $MODES; do
	for proto in tcp udp; do
		bench_log "socket: $proto in alternate slices, $mode switched, load $(load_avg)"
		port=$((port + 1))
		"$TMP/flood" -proto $proto -a $A -b $B -dst 10.99.2.2:$port -seconds "$SECS" -slice 500ms -mode "$mode" \
			>>"$OUT/socket-flood.jsonl" || bench_die "flood -proto $proto -mode $mode failed"
	done
	bench_log "socket: churn in alternate slices, $mode switched, load $(load_avg)"
	"$TMP/churn" alternate -a $A -b $B -addr 10.99.2.2:7000 -seconds "$SECS" -slice 500ms -workers 4 -mode "$mode" \
		>>"$OUT/socket-churn.jsonl" 2>"$TMP/churn.log" ||
		{ cat "$TMP/churn.log" >&2; bench_die "churn alternate -mode $mode failed"; }
done

# Kernel time of the programs, with the run-time statistics on (not in
# the alternate runs: they slow every program a little).
for attach in socket tcx; do
	for load in tcp churn; do
		bench_log "socket: program run times, attach=$attach, $load, load $(load_avg)"
		bench_bg "$TMP/tap" -mode stats -prog network_graph_tcx -prog network_graph_sockops -prog network_graph_iter_tcp \
			>"$OUT/socket-progstats-$attach-$load.json" 2>"$TMP/stats.log"
		stats_pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/stats.log" 'msg=ready' 20
		bench_bg "$GADGET" run network-graph --netns $A --netns $B --param attach=$attach -o json --interval 2s \
			>"$TMP/gadget.json" 2>"$TMP/gadget.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/gadget.log" 'msg=tracing' 20
		if [[ $load == tcp ]]; then
			ip netns exec $A iperf3 -c 10.99.2.2 -p 5201 -t 2 -J >"$TMP/iperf.json" ||
				{ cat "$TMP/iperf.json" >&2; bench_die "iperf3 TCP failed"; }
			jq -r '.end.sum_received.bytes' "$TMP/iperf.json" >"$OUT/socket-progstats-$attach-$load.load"
		else
			"$TMP/churn" alternate -a $A -b $B -addr 10.99.2.2:7000 -seconds 2 -slice 500ms -workers 4 -mode none \
				>"$TMP/churn.json" 2>"$TMP/churn.log" || { cat "$TMP/churn.log" >&2; bench_die "churn failed"; }
			jq -r '.connections' "$TMP/churn.json" >"$OUT/socket-progstats-$attach-$load.load"
		fi
		# The statistics first: the programs go with the gadget.
		bench_stop "$stats_pid" INT
		bench_stop "$pid" INT
	done
done
bench_stop "$CHURN_SERVER"
bench_stop "$SERVER"
bench_log "socket: done"
