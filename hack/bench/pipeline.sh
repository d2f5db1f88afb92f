#!/usr/bin/env bash
# Pipeline throughput (issue 7, item 3) and per-namespace kernel object
# costs, as Go benchmarks:
#
#   hack/bench/pipeline.sh OUTDIR [ROUNDS] [GADGET]
#
# Each round runs, one after the other (so rounds interleave the hosts):
#   go test -run '^$' -bench 'Format10k$' -benchmem ./framework/plugin/...
#   go test -run '^$' -bench 'Format10kPaired$' -benchmem ./framework/plugin/plugintest/
#   go test -run '^$' -bench Unique10k -benchmem ./gadgets/networkgraph/types/
#   go test -run '^$' -bench 'Load|TagProgram' ./bpf/networkgraph/          (root)
#   go test -run '^$' -bench AttachDetach -benchtime 30x ./gadgets/networkgraph/  (root)
# and appends every benchmark line to OUTDIR/pipeline.tsv:
#   round  benchmark  ns/op  edges/s  B/op  allocs/op  x-builtin
# x-builtin is BenchmarkFormat10kPaired's ratio of a host's rate to the
# built-in formatter's, both timed in the same iterations (empty for other
# benchmarks): on this shared SMT machine the CPU speed flips by up to 2×
# every few seconds, so the ratio of two separately timed benchmarks
# (Format10k's edges/s) is noise, the paired ratio is not.
# Then, once, a CPU profile of BenchmarkFormat10k/wasm (OUTDIR/wasm-profile.txt)
# and hack/bench/wasmloop (OUTDIR/wasmloop.json).
# With GADGET (bin/gadget), the CLI start-up of a Go WASM formatter: one
# 'gadget format network-graph --input FILE --formatter F' with a fresh
# cache of compiled plugins (cold), then BENCH_FORMAT_RUNS (10) pairs of
# runs, the built-in dot and dot.wasm (plugins/dot built as make
# plugins-wasm does) one after the other, the order flipped every pair,
# each timed by /usr/bin/time; appended to OUTDIR/format-cli.tsv:
#   pair  formatter  wall-s  max-rss-KiB
# (pair 0 is the cold run). The report takes the median of the per-pair
# ratios of wall times, so both runs of a ratio meet the same machine.
# A package whose benchmarks are missing or fail to build is noted in
# OUTDIR/pipeline-missing.txt and skipped, so the script runs while the
# plugin hosts are still being written.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 OUTDIR [ROUNDS]" >&2; exit 2; }
OUT=$1
ROUNDS=${2:-3}
GADGET=${3:-}
mkdir -p "$OUT"
: >"$OUT/pipeline.tsv"
: >"$OUT/pipeline-missing.txt"
TMP=$(mktemp -d /tmp/gbench-pipeline.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# bench ROUND PATTERN PKGS... [-- EXTRA FLAGS]
bench() {
	local round=$1 pat=$2 pkgs=() extra=()
	shift 2
	while [[ $# -gt 0 && $1 != -- ]]; do pkgs+=("$1"); shift; done
	[[ $# -gt 0 ]] && { shift; extra=("$@"); }
	# A pattern matching nothing under a directory is not an error here.
	if ! (cd "$ROOT" && go list "${pkgs[@]}" >/dev/null 2>&1); then
		echo "${pkgs[*]}: no such packages yet" >>"$OUT/pipeline-missing.txt"
		return 0
	fi
	if ! (cd "$ROOT" && go test -count=1 -run '^$' -bench "$pat" -benchmem "${extra[@]}" "${pkgs[@]}") >"$TMP/out.txt" 2>&1; then
		{
			echo "go test -bench '$pat' ${pkgs[*]}: some packages failed:"
			grep -E '^(FAIL|#|vet:|[^ ]+\.go:[0-9]+)' "$TMP/out.txt" | grep -v '^FAIL$' | head -8 | sed 's/^/  /'
		} >>"$OUT/pipeline-missing.txt"
	fi
	# BenchmarkName-2  N  123 ns/op  [456 edges/s]  [0.55 x-builtin]  789 B/op  10 allocs/op
	# (a benchmark reporting ns/packet has that in the ns column instead)
	awk -v r="$round" '/^Benchmark/ {
		name=$1; sub(/-[0-9]+$/, "", name); ns=""; eps=""; bop=""; aop=""; xb="";
		for (i = 3; i < NF; i++) {
			if ($(i+1) == "ns/op" && ns == "") ns=$i; else if ($(i+1) == "ns/packet") ns=$i;
			else if ($(i+1) == "edges/s") eps=$i;
			else if ($(i+1) == "B/op") bop=$i; else if ($(i+1) == "allocs/op") aop=$i;
			else if ($(i+1) == "x-builtin") xb=$i;
		}
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r, name, ns, eps, bop, aop, xb }' "$TMP/out.txt" >>"$OUT/pipeline.tsv"
	if ! grep -q '^Benchmark' "$TMP/out.txt"; then
		echo "round $round: no benchmark matched '$pat' in ${pkgs[*]}" >>"$OUT/pipeline-missing.txt"
	fi
}

for ((r = 1; r <= ROUNDS; r++)); do
	bench_log "pipeline: round $r/$ROUNDS, load $(load_avg)"
	bench "$r" 'Format10k$' ./framework/plugin/...
	bench "$r" 'Format10kPaired$' ./framework/plugin/plugintest/
	bench "$r" Unique10k ./gadgets/networkgraph/types/
	if [[ $EUID -eq 0 ]]; then
		bench "$r" 'Load$|TagProgram$|Packet$' ./bpf/networkgraph/
		bench "$r" 'AttachDetach$' ./gadgets/networkgraph/ -- -benchtime 30x
	fi
done
# Why is a WASM formatter slow? A CPU profile of one 10k-edge batch, and
# one tight loop timed under each wazero runtime setting the host uses.
: >"$OUT/wasm-profile.txt"
if (cd "$ROOT" && go test -count=1 -run '^$' -bench 'Format10k$/^wasm$' -benchtime 2s \
	-cpuprofile "$TMP/wasm.prof" -o "$TMP/plugintest.test" ./framework/plugin/plugintest/) >"$TMP/out.txt" 2>&1 &&
	[[ -s $TMP/wasm.prof ]]; then
	(cd "$ROOT" && go tool pprof -top -nodecount 8 "$TMP/plugintest.test" "$TMP/wasm.prof") 2>/dev/null |
		sed -n '/^Duration/p; /flat%/,$p' >"$OUT/wasm-profile.txt" || true
fi
(cd "$ROOT" && go run ./hack/bench/wasmloop) >"$OUT/wasmloop.json" || echo '{}' >"$OUT/wasmloop.json"

# Where a Go guest's 10k-edge batch goes, stage by stage
# (BenchmarkGoGuestStages): wasm-stages.tsv, round, stage, ms a batch.
: >"$OUT/wasm-stages.tsv"
bench_log "pipeline: Go guest stages, load $(load_avg)"
if (cd "$ROOT" && go test -run '^$' -bench 'GoGuestStages$' -benchtime 40x -count 3 ./framework/plugin/plugintest/) >"$TMP/out.txt" 2>&1; then
	awk '/^BenchmarkGoGuestStages/ {r++; for (i = 3; i < NF; i++) if ($(i+1) ~ /^ms-/) {s = $(i+1); sub(/^ms-/, "", s); printf "%d\t%s\t%s\n", r, s, $i}}' "$TMP/out.txt" >"$OUT/wasm-stages.tsv"
fi

# gadget format with a Go WASM formatter against the built-in one.
: >"$OUT/format-cli.tsv"
if [[ -n $GADGET ]]; then
	bench_log "pipeline: gadget format, built-in dot vs dot.wasm"
	(cd "$ROOT" && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$TMP/dot.wasm" ./plugins/dot)
	cat >"$TMP/events.json" <<'EVENTS'
[{"node":"node1","pod":"frontend","pktType":"OUTGOING","proto":"tcp","ip":"10.77.0.3","port":8080,"podIP":"10.77.0.2","packets":6,"bytes":420},
{"node":"node1","pod":"frontend","pktType":"OUTGOING","proto":"udp","ip":"10.77.0.5","port":53,"podIP":"10.77.0.2","packets":2,"bytes":90},
{"node":"node1","pod":"api","pktType":"HOST","proto":"tcp","ip":"10.77.0.2","port":8080,"podIP":"10.77.0.3","packets":6,"bytes":900},
{"node":"node1","pod":"api","pktType":"OUTGOING","proto":"tcp","ip":"10.77.0.4","port":5432,"podIP":"10.77.0.3","packets":4,"bytes":300},
{"node":"node1","pod":"db","pktType":"HOST","proto":"tcp","ip":"10.77.0.3","port":5432,"podIP":"10.77.0.4","packets":4,"bytes":250}]
EVENTS
	# format PAIR NAME FORMATTER: one timed run; the cache of compiled
	# plugins is this run's own (XDG_CACHE_HOME), so pair 0 starts cold.
	format() {
		local t
		t=$(XDG_CACHE_HOME="$TMP/cache" /usr/bin/time -f '%e %M' "$GADGET" format network-graph \
			--input "$TMP/events.json" --formatter "$3" 2>&1 >/dev/null | tail -1)
		printf '%s\t%s\t%s\t%s\n' "$1" "$2" "${t% *}" "${t#* }" >>"$OUT/format-cli.tsv"
	}
	format 0 wasm-cold "$TMP/dot.wasm"
	for ((i = 1; i <= ${BENCH_FORMAT_RUNS:-10}; i++)); do
		if ((i % 2)); then
			format "$i" builtin dot
			format "$i" wasm "$TMP/dot.wasm"
		else
			format "$i" wasm "$TMP/dot.wasm"
			format "$i" builtin dot
		fi
	done
fi
bench_log "pipeline: done"
