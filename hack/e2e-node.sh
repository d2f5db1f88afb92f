#!/usr/bin/env bash
# End-to-end test of gadget on a real single-node Kubernetes cluster (root):
#
#   sudo make e2e-node          (or: sudo hack/e2e-node.sh)
#
# 1. installs what it needs from Debian (containerd, runc, the CNI plugins,
#    etcd, iptables, openssl) and checks for kubectl;
# 2. builds kube-apiserver, kubelet, kube-scheduler, kube-controller-manager
#    and kube-proxy from Go modules (hack/envtest-assets.sh, one module, one
#    build cache), the gadgetd image (make image), the sandbox ("pause") and
#    workload images the same way, bin/kubectl-gadget and the test;
# 3. starts the cluster (hack/e2e-node/cluster.sh up) with those images
#    imported into containerd — nothing is pulled;
# 4. runs test/e2enode: kubectl gadget deploy, real pods behind a Service,
#    kubectl gadget network-graph start/stream/show/stop, the documentation's
#    example Trace, pod and gadgetd restarts, refused readers, kubectl gadget
#    dns and DNS names on network-graph's edges (a DNS server pod), undeploy;
#    With "soak" (sudo make soak-node, SOAK_DURATION=5m): runs only
#    TestSoakNode for $SOAK_DURATION instead (test/e2enode/soak_test.go:
#    traces and pods churned, gadgetd killed at random, slow readers; no
#    leak, no crash loop, every loss reported) and puts its figures into
#    $SOAK_DOC (default docs/benchmarks.md; empty writes none);
# 5. tears the cluster down and restores the host (cluster.sh down), also on
#    failure, Ctrl-C or SIGTERM; the components' logs are kept in
#    $E2E_NODE_LOGS (default bin/e2e-node-logs) for a failed run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { echo "e2e-node: $*" >&2; }

[[ $EUID -eq 0 ]] || { echo "e2e-node: needs root (containerd, kubelet, eBPF): run 'sudo make e2e-node'" >&2; exit 2; }

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v etcd >/dev/null || need+=(etcd-server)
command -v iptables >/dev/null || need+=(iptables)
command -v openssl >/dev/null || need+=(openssl)
command -v ip >/dev/null || need+=(iproute2)
if [[ ${#need[@]} -gt 0 ]]; then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# The packages may start their own daemons; the test runs its own.
	systemctl disable --now containerd etcd >/dev/null 2>&1 || true
fi
command -v kubectl >/dev/null || { log "kubectl not found: it comes with the machine image (Kubernetes 1.32 client); install it and run again"; exit 2; }

GO=${GO:-go}
t0=$SECONDS
test_args=(-test.v -test.timeout 15m -test.run '^TestRealNode$')
if [[ ${1:-} == soak ]]; then
	duration=${SOAK_DURATION:-5m}
	[[ $duration =~ ^([0-9]+)(s|m|h)$ ]] || { log "SOAK_DURATION=$duration: want whole seconds, minutes or hours, e.g. 60s or 5m"; exit 2; }
	declare -A unit=([s]=1 [m]=60 [h]=3600)
	secs=$((BASH_REMATCH[1] * unit[${BASH_REMATCH[2]}]))
	soak_report=$(mktemp)
	test_args=(-test.v -test.timeout $((secs + 900))s -test.run '^TestSoakNode$' -soak-duration "$duration" -soak-report "$soak_report")
	[[ -n ${SOAK_SEED:-} ]] && test_args+=(-soak-seed "$SOAK_SEED")
fi
timing() { log "$1 in $((SECONDS - t0))s"; t0=$SECONDS; }

bindir=$(hack/envtest-assets.sh kubelet kube-scheduler kube-controller-manager kube-proxy)
timing "Kubernetes components ready"

arch=$($GO env GOARCH)
mkdir -p bin/e2e-node
make --no-print-directory image IMAGE_PLATFORMS="linux/$arch" >&2
gadgetd_image=$(make --no-print-directory -s image-ref)
pause_image=localhost/gadget-e2e/pause:e2e
traffic_image=localhost/gadget-e2e/traffic:e2e
for img in pause traffic; do
	ref=localhost/gadget-e2e/$img:e2e
	$GO run ./hack/image --pkg ./test/e2enode/cmd/$img --name "${ref%:*}" --tag "${ref##*:}" \
		--platform "linux/$arch" --out "bin/e2e-node/$img.tar" >&2
done
make --no-print-directory kubectl-gadget >&2
$GO test -c -tags e2enode -o bin/e2e-node/e2enode.test ./test/e2enode
timing "images, kubectl-gadget and the test built"

export E2E_NODE_LOGS=${E2E_NODE_LOGS:-$root/bin/e2e-node-logs}
rm -rf "$E2E_NODE_LOGS"
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[[ -z ${soak_report:-} ]] || rm -f "$soak_report"
	if [[ $rc -eq 0 ]]; then
		E2E_NODE_LOGS= hack/e2e-node/cluster.sh down "$bindir"
		log "PASS"
	else
		hack/e2e-node/cluster.sh down "$bindir"
		log "FAIL (exit $rc); the components' logs are in $E2E_NODE_LOGS"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A cluster left by a killed run goes first.
hack/e2e-node/cluster.sh down "$bindir" >/dev/null 2>&1 || true
E2E_PAUSE_IMAGE=$pause_image hack/e2e-node/cluster.sh up "$bindir" \
	bin/gadgetd-image.tar bin/e2e-node/pause.tar bin/e2e-node/traffic.tar
timing "cluster up"
eval "$(hack/e2e-node/cluster.sh env | sed 's/^/export /')"

(cd test/e2enode && "$root/bin/e2e-node/e2enode.test" "${test_args[@]}" \
	-kubectl-gadget "$root/bin/kubectl-gadget" -gadgetd-image "$gadgetd_image" -traffic-image "$traffic_image")
timing "test passed"
if [[ ${1:-} == soak && -n ${SOAK_DOC-docs/benchmarks.md} ]]; then
	[[ -s $soak_report ]] || { log "TestSoakNode wrote no figures to $soak_report"; exit 1; }
	hack/bench/soak-section.sh "$soak_report" "${SOAK_DOC-docs/benchmarks.md}" soak-node
fi
