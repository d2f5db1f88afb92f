#!/usr/bin/env bash
# Fails when regenerating the generated files (eBPF objects, docs) would
# change the working tree: generated code must be committed up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot() { git status --porcelain --untracked-files=all; git diff --no-ext-diff; }
before=$(snapshot | sha256sum)
make --no-print-directory generate >/dev/null
after=$(snapshot | sha256sum)
if [[ "$before" != "$after" ]]; then
	echo "check-generated: 'make generate' changed files; run it and commit the result:" >&2
	git status --porcelain --untracked-files=all >&2
	exit 1
fi
echo "check-generated: generated files are up to date"
