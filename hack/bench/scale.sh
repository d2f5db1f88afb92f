#!/usr/bin/env bash
# Scale of network-graph with many network namespaces (issue 7, item 4),
# root only:
#
#   hack/bench/scale.sh GADGET OUTDIR [ROUNDS] [COUNTS]
#
# First, on a calm machine, it creates 500 namespaces gbench-cli-* and runs
# the real CLI,
#   /usr/bin/time -v GADGET run network-graph --all --interval 1s -o json
# adds 5 namespaces one at a time while it runs, timing each from
# 'ip netns add' to the time stamp of the CLI's "target added" (or, when
# first seen through the ip process, "target renamed") log line
# (ms, one a line, in OUTDIR/scale-cli-new.txt), stops it with SIGINT and
# appends its maximum RSS (KiB) and elapsed time to OUTDIR/scale-cli.tsv.
# Then, for each round and each count N (default "100 250 500", order
# rotating between rounds) it runs hack/bench/scale -netns N -new 20 in a
# process of its own (times: start with N targets, one more netns attached
# while running, one detached, stop; peak RSS of that process) and appends
# its JSON line to OUTDIR/scale.jsonl.
# Last, once per round, 'hack/bench/tap -mode close -n 100' in a namespace
# of its own times closing 100 packet sockets one by one and at once
# (OUTDIR/scale-close.jsonl): what detaching costs, and what it could cost.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 2 ]] || { echo "usage: $0 GADGET OUTDIR [ROUNDS] [COUNTS]" >&2; exit 2; }
GADGET=$(realpath "$1")
OUT=$2
ROUNDS=${3:-3}
read -r -a COUNTS <<<"${4:-100 250 500}"
CLI_N=${BENCH_SCALE_CLI_NETNS:-500}
CLI_NEW=${BENCH_SCALE_CLI_NEW:-5}
bench_need_root
bench_install /usr/bin/time:time
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/gbench-scale.XXXXXX)
CLI_NAMES=()
cleanup() {
	bench_cleanup
	if [[ ${#CLI_NAMES[@]} -gt 0 ]]; then
		printf 'netns del %s\n' "${CLI_NAMES[@]}" | ip -force -batch - 2>/dev/null || true
	fi
	# The scale program deletes its own gbench-s-* namespaces; this catches
	# what a killed one left behind.
	ip netns list | awk '/^gbench-s-[0-9]+( |$)/ {print "netns del " $1}' | ip -force -batch - 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$TMP/scale" "$HERE/scale"
go build -o "$TMP/tap" "$HERE/tap"
bench_netns_add gbench-close
: >"$OUT/scale-close.jsonl"
: >"$OUT/scale.jsonl"
: >"$OUT/scale-cli.tsv"
: >"$OUT/scale-cli-new.txt"
for i in $(seq 1 "$CLI_N"); do CLI_NAMES+=("gbench-cli-$i"); done

# The CLI first, on a calm machine: the rounds below leave the kernel
# tearing down thousands of namespaces in the background.
bench_log "scale: CLI --all with $CLI_N extra netns, load $(load_avg)"
printf 'netns add %s\n' "${CLI_NAMES[@]}" | ip -force -batch -
bench_bg /usr/bin/time -v -o "$TMP/time.txt" "$GADGET" run network-graph --all --interval 1s -o json >"$TMP/cli.json" 2>"$TMP/cli.log"
cli=$BENCH_LAST_PID
bench_wait_for "$TMP/cli.log" 'msg=tracing' 60
# New namespaces while it runs: from 'ip netns add' to the CLI's log line.
for i in $(seq 1 "$CLI_NEW"); do
	name=gbench-cli-new-$i
	CLI_NAMES+=("$name")
	# Start at a random point of the CLI's 1 s rescan period, not
	# right after the rescan that found the previous namespace.
	sleep "$(awk -v r="$RANDOM" 'BEGIN {printf "%.3f", r / 32768}')"
	t0=$(date +%s%N)
	ip netns add "$name"
	bench_wait_for "$TMP/cli.log" "msg=\"target (added|renamed)\".* pod=$name( |\$)" 10
	# The log line's own time (ms), not when the poll above saw it.
	ts=$(grep -E "msg=\"target (added|renamed)\".* pod=$name( |\$)" "$TMP/cli.log" | head -1 | sed 's/^time=\([^ ]*\).*/\1/')
	t1=$(date -d "$ts" +%s%3N)
	echo "$((t1 - t0 / 1000000))" >>"$OUT/scale-cli-new.txt"
done
# SIGINT: the CLI stops, /usr/bin/time reports.
pkill -INT -P "$cli" || true
wait "$cli" || { cat "$TMP/cli.log" >&2; bench_die "gadget run --all failed"; }
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$TMP/time.txt")
targets=$(grep -o 'msg=tracing.*targets=[0-9]*' "$TMP/cli.log" | grep -o 'targets=[0-9]*' | cut -d= -f2 || echo "?")
printf '%s\t%s\t%s\t%s\n' 1 "$targets" "$rss" "$wall" >>"$OUT/scale-cli.tsv"
printf 'netns del %s\n' "${CLI_NAMES[@]}" | ip -force -batch - 2>/dev/null || true

for ((r = 1; r <= ROUNDS; r++)); do
	k=$(((r - 1) % ${#COUNTS[@]}))
	order=("${COUNTS[@]:k}" "${COUNTS[@]:0:k}")
	for n in "${order[@]}"; do
		bench_log "scale: round $r/$ROUNDS, $n netns, load $(load_avg)"
		"$TMP/scale" -netns "$n" -new 20 -prefix gbench-s | jq -c --argjson r "$r" '. + {round: $r}' >>"$OUT/scale.jsonl"
	done
	ip netns exec gbench-close "$TMP/tap" -mode close -n 100 | jq -c --argjson r "$r" '. + {round: $r}' >>"$OUT/scale-close.jsonl"
done
bench_log "scale: done"
