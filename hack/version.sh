#!/usr/bin/env bash
# version.sh prints what a build stamps into gadget's programs and images;
# the Makefile's image and dist targets use it, nothing else computes them.
#
#   hack/version.sh            # the version: git describe --tags --always --dirty --match 'v*'
#   hack/version.sh revision   # the commit: full hash
#   hack/version.sh epoch      # the commit time, seconds since 1970 (SOURCE_DATE_EPOCH)
#
# Without a v* tag (or outside a git checkout) the version is
# v0.0.0-<commits>-g<short hash>[-dirty]: semver-like and a valid image tag.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case ${1:-version} in
version)
	if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
		echo v0.0.0-unknown
		exit 0
	fi
	v=$(git describe --tags --always --dirty --match 'v*')
	if [[ $v != v* ]]; then
		# No tag: git describe printed the short hash (and -dirty).
		dirty=
		[[ $v == *-dirty ]] && dirty=-dirty
		v=v0.0.0-$(git rev-list --count HEAD)-g$(git rev-parse --short HEAD)$dirty
	fi
	echo "$v"
	;;
revision)
	git rev-parse HEAD 2>/dev/null || echo unknown
	;;
epoch)
	git log -1 --format=%ct 2>/dev/null || echo 0
	;;
*)
	echo "usage: $0 [version|revision|epoch]" >&2
	exit 2
	;;
esac
