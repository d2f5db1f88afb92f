#!/usr/bin/env bash
# soak-section.sh SECTION DOC: puts the soak's figures (SECTION, a file
# that make soak's TestSoak writes, between its soak:begin and soak:end
# markers) into DOC (docs/benchmarks.md): in place of the previous soak
# section, or else before "## Raw data" (at the end without one).
# hack/bench/report.sh keeps the section when it rewrites DOC.
set -euo pipefail
section=$1 doc=$2
[[ -f $doc ]] || { echo "soak-section: $doc not found" >&2; exit 1; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v secfile="$section" '
	function emit() { while ((getline l < secfile) > 0) print l; close(secfile); print ""; done = 1 }
	/^<!-- soak:begin/ { skip = 1; next }
	skip && /^<!-- soak:end/ { skip = 0; emit(); getline; if ($0 != "") print; next }
	skip { next }
	/^## Raw data/ && !done { emit() }
	{ print }
	END { if (!done) { print ""; emit() } }
' "$doc" >"$tmp"
cat "$tmp" >"$doc"
echo "soak: wrote the figures into $doc"
