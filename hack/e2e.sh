#!/usr/bin/env bash
# End-to-end test of the network-graph gadget on a simulated node (root):
#
#   sudo make e2e          (or: sudo hack/e2e.sh)
#
# It builds gadgetd and the e2e test (test/e2e, build tag e2e), then the
# test starts a real kube-apiserver and etcd (envtest, binaries from
# hack/envtest-assets.sh), applies the Trace CRD, deploy/admission.yaml (the
# scope policy, which gadgetd requires), deploy/namespace.yaml and
# deploy/rbac.yaml, creates two network namespaces joined by a veth as the
# pods demo/client and demo/server (Pod objects with status.podIP on node
# e2e-node), runs gadgetd as a real process with the ServiceAccount's token
# and only the capabilities deploy/daemonset.yaml gives it (setpriv),
# applies the documentation's example Trace (node e2e-node, outputMode
# Status), annotates start, sends TCP and UDP from client to server, adds a
# pod demo/late while the trace runs (attached live, sends TCP, deleted and
# detached live), annotates stop, checks status.output edge by edge (the
# exact set) and prints the graph, then deletes the Trace (finalizer). A
# second test drives kubectl gadget network-graph start/stream/show/stop as
# a user with only the ClusterRole gadget-trace-user, and checks that the
# stream is refused without its token (from another network namespace,
# and through pods/proxy to a user who may not get Traces) and that the
# metrics listen on loopback only.
#
# hack/e2e.sh soak (make soak) runs only TestSoak, for $SOAK_DURATION
# (default 5m): traces and pods churned, gadgetd killed at random and
# restarted, a flood and slow stream readers; see test/e2e/soak_test.go.
# Its figures replace the soak section of $SOAK_DOC (default
# docs/benchmarks.md; empty writes none).
#
# Everything is removed on success, failure, Ctrl-C or SIGTERM: the test
# cleans up itself; this script's trap kills what a killed test left behind
# (gadgetd, its test namespaces gt-*-e2e-client/server/late).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
die() { echo "e2e: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || { echo "e2e: needs root (network namespaces, eBPF): run 'sudo make e2e'" >&2; exit 2; }

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
if [[ ${#need[@]} -gt 0 ]]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

GO=${GO:-go}
export KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$("$root/hack/envtest-assets.sh")}
mkdir -p bin
echo "e2e: building bin/gadgetd, bin/kubectl-gadget and bin/e2e.test"
$GO build -o bin/gadgetd ./cmd/gadgetd
$GO build -o bin/kubectl-gadget ./cmd/kubectl-gadget
$GO test -c -tags e2e -o bin/e2e.test ./test/e2e

E2E_STATE_DIR=$(mktemp -d)
export E2E_STATE_DIR
test_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $test_pid ]] && kill -0 "$test_pid" 2>/dev/null; then
		kill -TERM "$test_pid" 2>/dev/null
		wait "$test_pid" 2>/dev/null
	fi
	# What a killed test could not clean up itself.
	if [[ -f $E2E_STATE_DIR/gadgetd.pid ]]; then
		pid=$(cat "$E2E_STATE_DIR/gadgetd.pid")
		if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$root/bin/gadgetd" ]]; then
			echo "e2e: killing leftover gadgetd $pid" >&2
			kill -9 "$pid"
		fi
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^gt-[0-9a-f]{6}-(e2e-(client|server|late|node|web|db|agent)|soak-(server|flood|churn))$'); do
		echo "e2e: removing leftover network namespace $ns" >&2
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns"
	done
	rm -rf "$E2E_STATE_DIR"
	if [[ $rc -eq 0 ]]; then
		echo "e2e: PASS"
	else
		echo "e2e: FAIL (exit $rc)" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

args=(-test.v -test.count=1 -test.timeout=10m)
if [[ ${1:-} == soak ]]; then
	duration=${SOAK_DURATION:-5m}
	[[ $duration =~ ^([0-9]+)(s|m|h)$ ]] || die "SOAK_DURATION=$duration: want whole seconds, minutes or hours, e.g. 90s or 5m"
	declare -A unit=([s]=1 [m]=60 [h]=3600)
	secs=$((BASH_REMATCH[1] * unit[${BASH_REMATCH[2]}]))
	report=$E2E_STATE_DIR/soak.md
	args=(-test.v -test.count=1 -test.run '^TestSoak$' -test.timeout=$((secs + 600))s -soak-duration "$duration" -soak-report "$report")
	[[ -n ${SOAK_SEED:-} ]] && args+=(-soak-seed "$SOAK_SEED")
fi

# The test reads deploy/ and docs/ relative to its package folder.
(cd test/e2e && exec ../../bin/e2e.test "${args[@]}" -gadgetd ../../bin/gadgetd -kubectl-gadget ../../bin/kubectl-gadget) &
test_pid=$!
wait "$test_pid"

if [[ ${1:-} == soak && -n ${SOAK_DOC-docs/benchmarks.md} ]]; then
	doc=${SOAK_DOC-docs/benchmarks.md}
	[[ -s $report ]] || die "TestSoak wrote no figures to $report"
	hack/bench/soak-section.sh "$report" "$doc"
fi
