#!/usr/bin/env bash
# Compares the per-packet cost of two builds of network-graph side by side,
# root only:
#
#   hack/bench/ab.sh GADGET_A GADGET_B [ROUNDS] [SECONDS]
#
# For a change to the data path, e.g.:
#
#   git stash && make build && cp bin/gadget /tmp/gadget-A && git stash pop && make build
#   sudo hack/bench/ab.sh /tmp/gadget-A bin/gadget
#
# Two namespaces, gbench-ab-a and gbench-ab-b, joined by a veth pair; a
# 64-byte UDP flood (iperf3) from a to b for SECONDS (3), the sender pinned
# to CPU 0, where veth also hands each datagram to b. In each of ROUNDS (8)
# rounds one build watches a and the other b, both at once: every datagram
# runs a's program at a's egress, then b's at b's ingress, on the same CPU
# at the same moment, so both see the same machine, which a comparison of
# runs seconds apart on a shared virtual machine does not (its CPUs change
# speed by up to 2× for seconds at a time). The next round swaps them, as
# egress and ingress cost differently. The kernel's eBPF run-time
# statistics (hack/bench/tap -mode stats) give each build's ns per run of
# the program it attaches: network_graph_tcx, or on kernels without the
# tag-free programs its ng_tc_tag programs, which include the shared
# program they tail-call (which itself then counts no run); both include
# the statistics' own cost (tens of ns, the same for both). Prints
# one line per round and the median and geometric mean of the per-round
# ratios B/A: below 1, B is cheaper. The same build as A and B shows the
# method's noise: within about 2 % on a 2-core VM, 8 rounds.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: $0 GADGET_A GADGET_B [ROUNDS] [SECONDS]" >&2; exit 2; }
GA=$(realpath "$1")
GB=$(realpath "$2")
ROUNDS=${3:-8}
SECS=${4:-3}
for g in "$GA" "$GB"; do [[ -x $g ]] || bench_die "$g is not executable: build it first (make build)"; done
bench_need_root
bench_install iperf3:iperf3 jq:jq
TMP=$(mktemp -d /tmp/gbench-ab.XXXXXX)
trap 'bench_cleanup; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
go build -o "$TMP/tap" "$HERE/tap"

A=gbench-ab-a
B=gbench-ab-b
bench_iperf_pair $A $B 10.99.2

# watch GADGET NETNS LOG: runs GADGET on NETNS until stopped.
watch() {
	bench_bg "$1" run network-graph --netns "$2" -o json --interval 2s >/dev/null 2>"$3"
	bench_wait_for "$3" 'msg=tracing' 20
}

ratios=()
printf '%-6s %-10s %-10s %-14s %-14s %s\n' round "a (egress)" "b (ingress)" "A ns/run" "B ns/run" "B/A"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then onA=$GA onB=$GB first=A; else onA=$GB onB=$GA first=B; fi
	watch "$onA" $A "$TMP/a.log"
	pa=$BENCH_LAST_PID
	ids=$("$TMP/tap" -mode ids -prog ng_tc_tag -prog network_graph_tcx) # the programs of the build on a
	watch "$onB" $B "$TMP/b.log"
	pb=$BENCH_LAST_PID
	bench_bg "$TMP/tap" -mode stats -prog ng_tc_tag -prog network_graph_tcx -ids "$ids" >"$TMP/stats.json" 2>"$TMP/stats.log"
	ps=$BENCH_LAST_PID
	bench_wait_for "$TMP/stats.log" 'msg=ready' 20
	ip netns exec $A taskset -c 0 iperf3 -c 10.99.2.2 -p 5201 -u -b 0 -l 64 -t "$SECS" >/dev/null ||
		bench_die "iperf3 failed"
	bench_stop "$ps" INT
	bench_stop "$pa" INT
	bench_stop "$pb" INT
	# Each side's attached programs: those of the two names that ran.
	side() { jq -r --arg s "$1" '[."ng_tc_tag@\($s)", ."network_graph_tcx@\($s)"] | map(select(. != null and .runs > 0)) | .[0].ns_per_run' "$TMP/stats.json"; }
	na=$(side listed)
	nb=$(side others)
	if [[ $first == A ]]; then nsA=$na nsB=$nb; else nsA=$nb nsB=$na; fi
	ratio=$(awk -v a="$nsA" -v b="$nsB" 'BEGIN {printf "%.3f", b / a}')
	ratios+=("$ratio")
	printf '%-6s %-10s %-10s %-14.1f %-14.1f %s\n' "$r" "$first" "$([[ $first == A ]] && echo B || echo A)" "$nsA" "$nsB" "$ratio"
done
bench_stop "$SERVER"
m=$(printf '%s\n' "${ratios[@]}" | median)
# The geometric mean weighs the rounds of both placements alike: were a
# build's cost to depend on the hook, x in one placement and 1/x in the
# other would cancel.
printf '%s\n' "${ratios[@]}" | awk -v n="$ROUNDS" -v m="$m" '{s += log($1)} END {
	printf "B/A over %d rounds: median %.3f, geometric mean %.3f\n", n, m, exp(s / NR) }'
