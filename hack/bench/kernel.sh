#!/usr/bin/env bash
# Kernel overhead of network-graph (issue 7, item 1), root only:
#
#   hack/bench/kernel.sh GADGET OUTDIR [ROUNDS] [SECONDS]
#
# Two network namespaces, gbench-k-a and gbench-k-b, joined by a veth pair;
# iperf3 runs a UDP flood of 64-byte datagrams and a TCP stream from a to b.
# Each round measures three configurations, in a rotating order:
#   A  no capture (baseline)
#   B  'gadget run network-graph --netns gbench-k-a --netns gbench-k-b'
#   C  'tcpdump -i veth-a -w /dev/null' in gbench-k-a (a full-copy capture)
#   D  hack/bench/tap -mode packet: a 'return 0' socket filter on an
#      ETH_P_ALL packet socket in both namespaces (B's attachment, no work)
#   E  hack/bench/tap -mode tcx: a trivial TCX program on ingress and egress
#      of both veth ends (the hook a tc-based design would use)
# and writes one line per measurement to OUTDIR/kernel.tsv:
#   round  config  test  value  unit  [sent]
# In B it also checks that the gadget counted at least the packets iperf3
# delivered (OUTDIR/kernel-accounting.tsv). Then hack/bench/flood floods
# BENCH_FLOOD_SECONDS (20) with network-graph, a trivial TCX program and
# nothing switched on and off every 0.5 s (OUTDIR/kernel-flood.jsonl, one
# line each). Last, one more B run (config S,
# round 0) with hack/bench/tap -mode stats measures the run time of the
# program itself (OUTDIR/kernel-progstats.json; the run's wall time in ms in
# OUTDIR/kernel-progstats-ms.txt) and, in the same run, of E's trivial
# program attached after it on the same hooks (in the same file), and a
# perf profile of one more B
# UDP floods and TCP streams (three each) the share of each CPU spent in
# network-graph's programs and what in them
# (OUTDIR/kernel-profile-{udp,tcp}-N.json, see hack/bench/perfshare).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: $0 GADGET OUTDIR [ROUNDS] [SECONDS]" >&2; exit 2; }
GADGET=$(realpath "$1")
OUT=$2
ROUNDS=${3:-5}
SECS=${4:-3}
FLOOD_SECS=${BENCH_FLOOD_SECONDS:-20}
bench_need_root
bench_install iperf3:iperf3 tcpdump:tcpdump jq:jq perf:linux-perf
mkdir -p "$OUT"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

A=gbench-k-a
B=gbench-k-b
bench_iperf_pair $A $B 10.99.0

TSV=$OUT/kernel.tsv
ACC=$OUT/kernel-accounting.tsv
: >"$TSV"
: >"$ACC"
: >"$OUT/kernel-flood.jsonl"
TMP=$(mktemp -d /tmp/gbench-kernel.XXXXXX)
trap 'bench_cleanup; rm -rf "$TMP"' EXIT
go build -o "$TMP/tap" "$HERE/tap"
go build -o "$TMP/perfshare" "$HERE/perfshare"
go build -o "$TMP/flood" "$HERE/flood"
CONFIGS=${BENCH_KERNEL_CONFIGS:-ABCDE}

# run_iperf ROUND CONFIG: the UDP flood and the TCP stream.
run_iperf() {
	local round=$1 cfg=$2 j=$TMP/iperf.json
	ip netns exec $A iperf3 -c 10.99.0.2 -p 5201 -u -b 0 -l 64 -t "$SECS" -J >"$j" ||
		{ cat "$j" >&2; bench_die "iperf3 UDP failed"; }
	jq -r --arg r "$round" --arg c "$cfg" \
		'.end.sum | [$r, $c, "udp64", ((.packets - .lost_packets) / .seconds | floor), "pps", (.packets / .seconds | floor)] | @tsv' "$j" >>"$TSV"
	UDP_RECEIVED=$(jq -r '.end.sum | .packets - .lost_packets' "$j")
	UDP_SENT=$(jq -r '.end.sum.packets' "$j")
	ip netns exec $A iperf3 -c 10.99.0.2 -p 5201 -t "$SECS" -J >"$j" ||
		{ cat "$j" >&2; bench_die "iperf3 TCP failed"; }
	jq -r --arg r "$round" --arg c "$cfg" \
		'.end.sum_received | [$r, $c, "tcp", (.bits_per_second / 1e9 * 1000 | floor) / 1000, "Gbit/s"] | @tsv' "$j" >>"$TSV"
}

run_config() {
	local round=$1 cfg=$2 pid
	case $cfg in
	A) run_iperf "$round" A ;;
	B)
		bench_bg "$GADGET" run network-graph --netns $A --netns $B -o json --interval 2s \
			>"$TMP/gadget.json" 2>"$TMP/gadget.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/gadget.log" 'msg=tracing' 20
		run_iperf "$round" B
		bench_stop "$pid" INT
		# Every datagram b received passed b's socket filter; every one a
		# sent passed a's.
		jq -r --arg r "$round" --argjson rx "$UDP_RECEIVED" --argjson tx "$UDP_SENT" '
			def edge(pod; t): [.[] | select(.pod == pod and .proto == "udp" and .pktType == t and .port == 5201)] | map(.packets) | add // 0;
			[$r, edge("gbench-k-b"; "HOST"), $rx, edge("gbench-k-a"; "OUTGOING"), $tx] | @tsv' \
			"$TMP/gadget.json" >>"$ACC"
		;;
	C)
		bench_bg ip netns exec $A tcpdump -i veth-a -n -s 0 -w /dev/null 2>"$TMP/tcpdump.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/tcpdump.log" 'listening on' 20
		run_iperf "$round" C
		bench_stop "$pid" INT
		;;
	D | E)
		local mode=packet
		[[ $cfg == E ]] && mode=tcx
		bench_bg "$TMP/tap" -mode $mode -netns $A -netns $B 2>"$TMP/tap.log"
		pid=$BENCH_LAST_PID
		bench_wait_for "$TMP/tap.log" 'msg=ready' 20
		run_iperf "$round" "$cfg"
		bench_stop "$pid" INT
		;;
	esac
}

# Each round starts one configuration later than the previous one.
n=${#CONFIGS}
for ((r = 1; r <= ROUNDS; r++)); do
	k=$(((r - 1) % n))
	order=${CONFIGS:k}${CONFIGS:0:k}
	bench_log "kernel: round $r/$ROUNDS ($order), load $(load_avg)"
	for ((i = 0; i < n; i++)); do
		run_config "$r" "${order:i:1}"
	done
done
# The same flood with network-graph attached and detached in alternate
# slices of one run (hack/bench/flood), so both sides of each comparison
# see the machine in the same state; as controls, the same with a trivial
# TCX program (the hooks alone) and with nothing switched (noise floor).
for mode in none trivial network-graph; do
	bench_log "kernel: flood in alternate slices, $mode switched, load $(load_avg)"
	"$TMP/flood" -a $A -b $B -dst 10.99.0.2:5300 -seconds "$FLOOD_SECS" -slice 500ms -mode "$mode" >>"$OUT/kernel-flood.jsonl" ||
		bench_die "flood -mode $mode failed"
done
# The program's own cost: one more B run, with the kernel's eBPF run-time
# statistics on (they slow every program a little, so not in the rounds)
# and E's trivial program attached after network-graph's on the same TCX
# hooks: both run on the same packets at the same moments, so the
# difference of their ns per run is network-graph's own work, with the
# statistics' cost and the machine's state the same on both sides.
bench_log "kernel: program run-time statistics, network-graph and a trivial program side by side, load $(load_avg)"
bench_bg "$TMP/tap" -mode stats -prog ng_tc_tag -prog network_graph_tcx -prog network_graph_socket -prog ng_tag -prog network_graph -prog gbench_trivial >"$OUT/kernel-progstats.json" 2>"$TMP/stats.log"
stats_pid=$BENCH_LAST_PID
bench_wait_for "$TMP/stats.log" 'msg=ready' 20
bench_bg "$GADGET" run network-graph --netns $A --netns $B -o json --interval 2s >/dev/null 2>"$TMP/gadget.log"
pid=$BENCH_LAST_PID
bench_wait_for "$TMP/gadget.log" 'msg=tracing' 20
bench_bg "$TMP/tap" -mode tcx -netns $A -netns $B 2>"$TMP/tap.log"
tap_pid=$BENCH_LAST_PID
bench_wait_for "$TMP/tap.log" 'msg=ready' 20
t0=$(date +%s%N)
run_iperf 0 S
t1=$(date +%s%N)
bench_stop "$stats_pid" INT
bench_stop "$tap_pid" INT
bench_stop "$pid" INT
echo "$(((t1 - t0) / 1000000))" >"$OUT/kernel-progstats-ms.txt"
# Where the time goes: system-wide CPU profiles (perf, with call chains)
# of three B UDP floods and three B TCP streams, in turn;
# hack/bench/perfshare counts the samples inside network-graph's programs
# per CPU and the functions they end in.
bench_log "kernel: CPU profiles of the UDP flood and the TCP stream, load $(load_avg)"
bench_bg "$GADGET" run network-graph --netns $A --netns $B -o json --interval 2s >/dev/null 2>"$TMP/gadget.log"
pid=$BENCH_LAST_PID
bench_wait_for "$TMP/gadget.log" 'msg=tracing' 20
# profile OUTFILE IPERF3-ARGS...: profile one iperf3 run from a to b.
profile() {
	local out=$1
	shift
	perf record -q -a -g -F 4999 -e cpu-clock -o "$TMP/perf.data" -- \
		ip netns exec $A iperf3 -c 10.99.0.2 -p 5201 -t "$SECS" "$@" >/dev/null 2>"$TMP/perf.log" ||
		{ cat "$TMP/perf.log" >&2; bench_die "perf record failed"; }
	perf script -i "$TMP/perf.data" -F cpu,ip,sym 2>/dev/null | "$TMP/perfshare" >"$out"
}
for i in 1 2 3; do
	profile "$OUT/kernel-profile-udp-$i.json" -u -b 0 -l 64
	profile "$OUT/kernel-profile-tcp-$i.json"
done
bench_stop "$pid" INT
bench_stop "$SERVER"
bench_log "kernel: done"
