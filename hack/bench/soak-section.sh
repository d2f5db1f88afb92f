#!/usr/bin/env bash
# soak-section.sh SECTION DOC [MARKER]: puts a soak's figures (SECTION, a
# file the soak test writes, between its MARKER:begin and MARKER:end
# markers) into DOC (docs/benchmarks.md): in place of the previous section
# of that marker, or else
#   - soak (make soak, test/e2e TestSoak; the default): before "## Raw
#     data" (at the end without one);
#   - soak-node (make soak-node, test/e2enode TestSoakNode): right after
#     the soak section, as its subsection (else before "## Raw data").
# hack/bench/report.sh keeps both sections when it rewrites DOC.
set -euo pipefail
section=$1 doc=$2 marker=${3:-soak}
[[ -f $doc ]] || { echo "soak-section: $doc not found" >&2; exit 1; }
case $marker in soak | soak-node) ;; *) echo "soak-section: unknown marker $marker" >&2; exit 2 ;; esac
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
has=0
grep -q "^<!-- $marker:begin" "$doc" && has=1
awk -v secfile="$section" -v m="$marker" -v has="$has" '
	function emit() { while ((getline l < secfile) > 0) print l; close(secfile); print ""; done = 1 }
	index($0, "<!-- " m ":begin") == 1 { skip = 1; next }
	skip && index($0, "<!-- " m ":end") == 1 { skip = 0; emit(); getline; if ($0 != "") print; next }
	skip { next }
	m == "soak-node" && !has && !done && index($0, "<!-- soak:end") == 1 { print; print ""; emit(); getline; if ($0 != "") print; next }
	/^## Raw data/ && !done { emit() }
	{ print }
	END { if (!done) { print ""; emit() } }
' "$doc" >"$tmp"
cat "$tmp" >"$doc"
echo "$marker: wrote the figures into $doc"
