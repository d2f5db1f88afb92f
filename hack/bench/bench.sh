#!/usr/bin/env bash
# All benchmarks of issue 7, root only; what 'sudo make bench' runs:
#
#   hack/bench/bench.sh GADGET DOC
#
# Runs, in order, kernel.sh (kernel overhead), churn.sh (connection churn),
# socket.sh (attach=socket vs attach=tcx: TCP stream, churn, UDP flood),
# pipeline.sh (Go benchmarks of Unique and the formatter hosts), scale.sh
# (100/250/500 namespaces), recording.sh (memory of gadget format and
# advise on a 500 MiB recording) and web.sh (the live view in Chromium),
# then report.sh, which writes DOC
# (docs/benchmarks.md). Rounds and durations come from the environment:
#   BENCH_ROUNDS (5)          rounds of kernel.sh
#   BENCH_SECONDS (2)         seconds per iperf3 run
#   BENCH_FLOOD_SECONDS (20)  seconds of each alternate-slice flood (kernel.sh, hack/bench/flood)
#   BENCH_CHURN_SECONDS (20)  seconds of each alternate-slice churn run (churn.sh, hack/bench/churn)
#   BENCH_SOCKET_SECONDS (20) seconds of each alternate-slice run of socket.sh (15 runs)
#   BENCH_SCALE_ROUNDS (3)    rounds of scale.sh
#   BENCH_SCALE_COUNTS ("100 250 500")
#   BENCH_PIPELINE_ROUNDS (2) rounds of pipeline.sh
#   BENCH_FORMAT_RUNS (10)    pairs of gadget format runs, built-in dot and dot.wasm (pipeline.sh)
#   BENCH_RECORDING_SIZE (500MiB), BENCH_RECORDING_EDGES (10000), BENCH_RECORDING_BEFORE (a commit to compare with; unset: none)
#   BENCH_CALM_WAIT (120)     seconds to wait at most for a load average under the core count
#   BENCH_OUT                 where the raw results go (default: a new /tmp/gbench-run.* directory, kept)
# Everything runs under 'nice -n -10' so that other work on the machine
# disturbs the measurements less. It takes about 8 minutes on 2 busy cores.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -eq 2 ]] || { echo "usage: sudo $0 GADGET DOC   (or: sudo make bench)" >&2; exit 2; }
bench_need_root
if [[ -z ${BENCH_NICED:-} ]]; then
	BENCH_NICED=1 exec nice -n -10 "$0" "$@"
fi
GADGET=$(realpath "$1")
[[ -x $GADGET ]] || bench_die "$1 is not executable: run 'make build' first"
DOC=$2
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-2}
OUT=${BENCH_OUT:-$(mktemp -d /tmp/gbench-run.XXXXXX)}
mkdir -p "$OUT"
bench_install iperf3:iperf3 tcpdump:tcpdump jq:jq /usr/bin/time:time

# A calm start: deleted namespaces (e.g. of a previous run's scale test)
# are torn down by kernel workers long after 'ip netns del', and would
# weigh on the kernel figures. Wait, up to BENCH_CALM_WAIT seconds, for the
# 1-minute load average to fall under the number of cores.
calm_deadline=$((SECONDS + ${BENCH_CALM_WAIT:-120}))
while awk -v l="$(load_avg)" -v n="$(nproc)" 'BEGIN {exit !(l >= n)}' && ((SECONDS < calm_deadline)); do
	bench_log "bench: waiting for a calm machine, load $(load_avg)"
	sleep 15
done
start=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "bench: results in $OUT"
"$HERE/kernel.sh" "$GADGET" "$OUT" "$ROUNDS" "$SECS"
"$HERE/churn.sh" "$OUT" "${BENCH_CHURN_SECONDS:-20}"
"$HERE/socket.sh" "$GADGET" "$OUT" "${BENCH_SOCKET_SECONDS:-20}"
"$HERE/pipeline.sh" "$OUT" "${BENCH_PIPELINE_ROUNDS:-2}" "$GADGET"
"$HERE/scale.sh" "$GADGET" "$OUT" "${BENCH_SCALE_ROUNDS:-3}" "${BENCH_SCALE_COUNTS:-100 250 500}"
"$HERE/recording.sh" "$OUT"
"$HERE/web.sh" "$OUT"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$((SECONDS - start))

commit=$(git -C "$HERE/../.." rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$HERE/../.." status --porcelain 2>/dev/null) ]]; then commit="$commit (with uncommitted changes)"; fi
cat >"$OUT/machine.txt" <<MACHINE
run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $((elapsed / 60)) min $((elapsed % 60)) s in all
CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores
memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
kernel: $(uname -r); $(go version | cut -d' ' -f3); $(iperf3 --version | head -1 | cut -d' ' -f1-2); tcpdump $(tcpdump --version 2>&1 | head -1 | awk '{print $3}')
load average (1, 5, 15 min): $LOAD_START at the start, $LOAD_END at the end
settings: BENCH_ROUNDS=$ROUNDS BENCH_SECONDS=$SECS BENCH_FLOOD_SECONDS=${BENCH_FLOOD_SECONDS:-20} BENCH_CHURN_SECONDS=${BENCH_CHURN_SECONDS:-20} BENCH_SOCKET_SECONDS=${BENCH_SOCKET_SECONDS:-20} BENCH_SCALE_ROUNDS=${BENCH_SCALE_ROUNDS:-3} BENCH_PIPELINE_ROUNDS=${BENCH_PIPELINE_ROUNDS:-2} BENCH_FORMAT_RUNS=${BENCH_FORMAT_RUNS:-10}
MACHINE
"$HERE/report.sh" "$OUT" "$DOC"
bench_log "bench: done in ${elapsed}s; raw results in $OUT"
