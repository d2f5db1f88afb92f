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
#     default), attach=tcx (network-graph-tcx), a program that only
#     returns at the same TCX hooks (trivial: the hooks' own price), that
#     and one on socket mode's TCP state tracepoint (trivial-socket) and
#     nothing switched (none: the method's noise floor)
# for SECONDS (20) each (churn, whose rate strays most from slice to
# slice: BENCH_SOCKET_CHURN_SECONDS, 2 × SECONDS; its client and server
# each pinned to a CPU, see bench_pin), into OUTDIR/socket-flood.jsonl (stream and flood,
# one JSON object a run, "proto" tcp or udp) and OUTDIR/socket-churn.jsonl;
# then BENCH_SOCKET_ROUNDS - 1 (2) more rounds of network-graph and the
# bare hooks, into the same files (the first run of each mode is the
# table's; the targets take the median of the rounds).
# Then the kernel time of network-graph's programs during one 2-second TCP
# stream, churn run and UDP flood, with `gadget run network-graph` in each
# mode and trivial programs on the same hooks (hack/bench/tap -mode stats),
# into OUTDIR/socket-progstats-MODE-LOAD.json; the load moved (bytes
# received, connections, or datagrams received) in
# socket-progstats-MODE-LOAD.load, and the machine's busy CPU time in ms
# (all CPUs, then the busiest one) in socket-progstats-MODE-LOAD.busy.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: $0 GADGET OUTDIR [SECONDS]" >&2; exit 2; }
GADGET=$(realpath "$1")
OUT=$2
SECS=${3:-20}
CHURN_SECS=${BENCH_SOCKET_CHURN_SECONDS:-$((SECS * 2))}
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
bench_bg ip netns exec $B $(bench_pin 1) "$TMP/churn" server -listen 10.99.2.2:7000 2>"$TMP/server.log"
CHURN_SERVER=$BENCH_LAST_PID
bench_wait_for "$TMP/server.log" 'msg=listening' 10

: >"$OUT/socket-flood.jsonl"
: >"$OUT/socket-churn.jsonl"
MODES=${BENCH_SOCKET_MODES:-none trivial trivial-socket network-graph network-graph-tcx}
port=5400
# flood WHAT PROTO MODE: one stream or flood run in alternate slices.
flood() {
	bench_log "socket: ${1}$2 in alternate slices, $3 switched, load $(load_avg)"
	port=$((port + 1))
	"$TMP/flood" -proto "$2" -a $A -b $B -dst 10.99.2.2:$port -seconds "$SECS" -slice 500ms -mode "$3" \
		>>"$OUT/socket-flood.jsonl" || bench_die "flood -proto $2 -mode $3 failed"
}
# churn WHAT MODE: one churn run in alternate slices.
churn() {
	bench_log "socket: ${1}churn in alternate slices, $2 switched, load $(load_avg)"
	$(bench_pin 0) "$TMP/churn" alternate -a $A -b $B -addr 10.99.2.2:7000 -seconds "$CHURN_SECS" -slice 500ms -workers 4 -mode "$2" \
		>>"$OUT/socket-churn.jsonl" 2>"$TMP/churn.log" ||
		{ cat "$TMP/churn.log" >&2; bench_die "churn alternate -mode $2 failed"; }
}
for mode in $MODES; do
	flood "" tcp "$mode"
	flood "" udp "$mode"
	churn "" "$mode"
done

# More rounds of network-graph (socket mode) and of the bare hooks it is
# compared with, in turn: one run's ratio strays by itself about as far as
# the targets' margins (the control shows how far), so the report takes
# the median of the rounds for the targets (bench_median), and for the
# UDP flood beyond the hooks the median of each round's ratio of ratios
# (bench_beyond).
ROUNDS=${BENCH_SOCKET_ROUNDS:-3}
if [[ " $MODES " == *" trivial "* && " $MODES " == *" trivial-socket "* && " $MODES " == *" network-graph "* ]]; then
	for ((r = 2; r <= ROUNDS; r++)); do
		for mode in trivial network-graph; do
			flood "round $r/$ROUNDS, " tcp "$mode"
			flood "round $r/$ROUNDS, " udp "$mode"
		done
		churn "round $r/$ROUNDS, " trivial-socket
		churn "round $r/$ROUNDS, " network-graph
	done
fi

# Kernel time of the programs, with the run-time statistics on (not in
# the alternate runs: they slow every program a little), during a TCP
# stream, churn and the UDP flood. Trivial programs ride along on the same
# hooks (hack/bench/tap: a TCX one attached after network-graph's, one on
# the inet_sock_set_state tracepoint), so they run on the same packets and
# state changes at the same moments: their ns per run is the statistics' and
# the hook's own price, and network-graph's own work is the difference.
# The CPU time the whole machine spent busy meanwhile (/proc/stat: user,
# nice, system, irq, softirq, steal) puts the programs' time in proportion.
# busy_ms: the busy time of all CPUs together, then of each, in ms.
busy_ms() { awk '/^cpu/ { printf "%s%d", (NR > 1 ? " " : ""), ($2 + $3 + $4 + $7 + $8 + $9) * 1000 / 100 } END { print "" }' /proc/stat; }
for attach in socket tcx; do
	for load in tcp churn udp; do
		bench_log "socket: program run times, attach=$attach, $load, load $(load_avg)"
		base=$OUT/socket-progstats-$attach-$load
		bench_bg "$TMP/tap" -mode stats -prog network_graph_tcx -prog network_graph_tcp_state -prog network_graph_iter_tcp \
			-prog gbench_trivial -prog gbench_tcpstate >"$base.json" 2>"$TMP/stats.log"
		stats_pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/stats.log" 'msg=ready' 20
		bench_bg "$GADGET" run network-graph --netns $A --netns $B --param attach=$attach -o json --interval 2s \
			>"$TMP/gadget.json" 2>"$TMP/gadget.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/gadget.log" 'msg=tracing' 20
		bench_bg "$TMP/tap" -mode tcx -netns $A -netns $B 2>"$TMP/tap-tcx.log"
		tcx_pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/tap-tcx.log" 'msg=ready' 20
		bench_bg "$TMP/tap" -mode tcpstate 2>"$TMP/tap-tcpstate.log"
		tcpstate_pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/tap-tcpstate.log" 'msg=ready' 20
		b0=$(busy_ms)
		case $load in
		tcp)
			ip netns exec $A iperf3 -c 10.99.2.2 -p 5201 -t 2 -J >"$TMP/iperf.json" ||
				{ cat "$TMP/iperf.json" >&2; bench_die "iperf3 TCP failed"; }
			jq -r '.end.sum_received.bytes' "$TMP/iperf.json" >"$base.load"
			;;
		churn)
			$(bench_pin 0) "$TMP/churn" alternate -a $A -b $B -addr 10.99.2.2:7000 -seconds 2 -slice 500ms -workers 4 -mode none \
				>"$TMP/churn.json" 2>"$TMP/churn.log" || { cat "$TMP/churn.log" >&2; bench_die "churn failed"; }
			jq -r '.connections' "$TMP/churn.json" >"$base.load"
			;;
		udp)
			port=$((port + 1))
			"$TMP/flood" -proto udp -a $A -b $B -dst 10.99.2.2:$port -seconds 2 -slice 500ms -mode none \
				>"$TMP/flood.json" || bench_die "flood failed"
			jq -r '.received' "$TMP/flood.json" >"$base.load"
			;;
		esac
		# All CPUs' busy ms, then the busiest CPU's (a flood's sender and
		# its softirq, which runs both ends' programs, share one).
		paste -d' ' <(tr ' ' '\n' <<<"$b0") <(busy_ms | tr ' ' '\n') |
			awk '{ d = $2 - $1 } NR == 1 { all = d; next } d > max { max = d } END { print all, max }' >"$base.busy"
		# The statistics first: the programs go with the gadget.
		bench_stop "$stats_pid" INT
		bench_stop "$tcpstate_pid" INT
		bench_stop "$tcx_pid" INT
		bench_stop "$pid" INT
	done
done
bench_stop "$CHURN_SERVER"
bench_stop "$SERVER"
bench_log "socket: done"
