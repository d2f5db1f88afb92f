#!/usr/bin/env bash
# The live view in headless Chromium (issue 15): first layout and update
# time at BENCH_WEB_EDGES edges (2000), written to OUTDIR/web.txt for
# report.sh. Skipped, with the reason in web.txt, when no Chromium is
# installed (apt-get install chromium).
#
#   hack/bench/web.sh OUTDIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$1
cd "$HERE/../.."
if ! out=$(go run ./hack/bench/web -edges "${BENCH_WEB_EDGES:-2000}" -updates "${BENCH_WEB_UPDATES:-10}" 2>&1); then
	echo "not measured: $out" >"$OUT/web.txt"
	echo "bench web: $out" >&2
	exit 0
fi
echo "$out" | tee "$OUT/web.txt"
echo "load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/web.txt"
