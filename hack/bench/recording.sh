#!/usr/bin/env bash
# Memory of gadget format and kubectl gadget network-graph advise on a
# large recording (issue 18, item 5); needs no root:
#
#   hack/bench/recording.sh OUTDIR      (or: make bench-recording)
#
# Writes a BENCH_RECORDING_SIZE (500MiB) JSON-lines recording of
# BENCH_RECORDING_EDGES (10000) distinct edges (hack/bench/recording),
# builds both commands from the working tree and runs each once under
# /usr/bin/time:
#   gadget format network-graph --input FILE -o json
#   kubectl-gadget network-graph advise --input FILE
# With BENCH_RECORDING_BEFORE=REF (a commit) it builds and runs the
# commands of REF too (from 'git archive'), for a side-by-side figure.
# Appends to OUTDIR/recording.tsv:
#   version  command  max-rss-KiB  wall-s  exit-status
# and prints it. The recording is deleted at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
SIZE=${BENCH_RECORDING_SIZE:-500MiB}
EDGES=${BENCH_RECORDING_EDGES:-10000}
GO=${GO:-go}
mkdir -p "$OUT"
[[ -x /usr/bin/time ]] || bench_install /usr/bin/time:time
WORK=$(mktemp -d /tmp/gbench-recording.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

build() { # build SRC DEST: the two commands of the tree SRC into DEST.
	(cd "$1" && "$GO" build -o "$2/gadget" ./cmd/gadget && "$GO" build -o "$2/kubectl-gadget" ./cmd/kubectl-gadget)
}
versions=(after)
build "$ROOT" "$WORK/after"
if [[ -n ${BENCH_RECORDING_BEFORE:-} ]]; then
	before=$(git -C "$ROOT" rev-parse --short "$BENCH_RECORDING_BEFORE")
	mkdir -p "$WORK/src-before"
	git -C "$ROOT" archive "$before" | tar -x -C "$WORK/src-before"
	build "$WORK/src-before" "$WORK/before"
	versions=(before after)
fi

bench_log "recording: writing $SIZE of JSON lines, $EDGES distinct edges"
(cd "$ROOT" && "$GO" run ./hack/bench/recording -size "$SIZE" -edges "$EDGES" -out "$WORK/rec.jsonl")
bytes=$(stat -c %s "$WORK/rec.jsonl")
echo "$bytes $(wc -l <"$WORK/rec.jsonl") $EDGES" >"$OUT/recording-input.txt"

for v in "${versions[@]}"; do
	label=$v
	[[ $v == before ]] && label="before ($before)"
	for cmd in format advise; do
		case $cmd in
		format) argv=("$WORK/$v/gadget" format network-graph --input "$WORK/rec.jsonl" -o json) ;;
		advise) argv=("$WORK/$v/kubectl-gadget" network-graph advise --input "$WORK/rec.jsonl") ;;
		esac
		bench_log "recording: $label $cmd"
		status=0
		/usr/bin/time -f '%M %e' -o "$WORK/time" "${argv[@]}" >"$WORK/out" 2>"$WORK/err" || status=$?
		read -r rss wall < <(tail -1 "$WORK/time")
		printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$cmd" "$rss" "$wall" "$status" >>"$OUT/recording.tsv"
		if [[ $status -ne 0 ]]; then
			bench_log "recording: $label $cmd exited $status: $(head -c 300 "$WORK/err")"
		fi
	done
done
awk -F'\t' -v b="$bytes" 'BEGIN {printf "input: %.0f MiB of JSON lines\n%-22s %-7s %14s %8s %s\n", b / 1048576, "version", "command", "max RSS (MiB)", "wall (s)", "exit"}
	{printf "%-22s %-7s %14.0f %8s %s\n", $1, $2, $3 / 1024, $4, $5}' "$OUT/recording.tsv"
