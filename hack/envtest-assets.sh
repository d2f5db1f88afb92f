#!/usr/bin/env bash
# envtest-assets.sh prepares the binaries controller-runtime's envtest needs:
# a kube-apiserver built from Go modules (hack/kube-apiserver, its own module,
# so the main module never depends on k8s.io/kubernetes) and etcd from
# Debian's etcd-server package. They go into a cache folder outside the
# repository, reused across runs; the script prints that folder, ready for
# KUBEBUILDER_ASSETS:
#
#   export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)
#
# The folder is $GADGET_ENVTEST_DIR, else $XDG_CACHE_HOME/gadget-envtest,
# else ~/.cache/gadget-envtest. A cold build of kube-apiserver takes about
# five minutes on two cores; later runs only check that it is up to date.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${GADGET_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gadget-envtest}
mkdir -p "$dir"

log() { echo "envtest-assets: $*" >&2; }

# etcd: Debian's etcd-server.
if ! command -v etcd >/dev/null 2>&1; then
	if [[ $EUID -eq 0 ]]; then
		log "installing etcd-server"
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2
		# The package may start a system etcd; the tests run their own.
		systemctl disable --now etcd >/dev/null 2>&1 || true
	else
		# The Kubernetes tests skip (and fail under CI=true) without it.
		log "etcd not found: install Debian's etcd-server (sudo apt-get install etcd-server)"
	fi
fi
if command -v etcd >/dev/null 2>&1; then
	ln -sf "$(command -v etcd)" "$dir/etcd"
fi

# kube-apiserver: rebuilt when the module's go.mod/go.sum/main.go change.
src=$root/hack/kube-apiserver
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
if [[ ! -x $dir/kube-apiserver || "$(cat "$dir/kube-apiserver.stamp" 2>/dev/null)" != "$stamp" ]]; then
	log "building kube-apiserver into $dir (about 5 minutes cold)"
	(cd "$src" && go build -trimpath -o "$dir/kube-apiserver.tmp" .)
	mv "$dir/kube-apiserver.tmp" "$dir/kube-apiserver"
	echo "$stamp" >"$dir/kube-apiserver.stamp"
fi
echo "$dir"
