#!/usr/bin/env bash
# envtest-assets.sh prepares the Kubernetes binaries the tests run, in a cache
# folder outside the repository reused across runs, and prints that folder:
#
#   export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)            # envtest
#   bin=$(hack/envtest-assets.sh kubelet kube-scheduler \
#         kube-controller-manager kube-proxy)                       # e2e-node
#
# - etcd: Debian's etcd-server (installed as root when missing);
# - kube-apiserver (always) and the components named as arguments: built from
#   Go modules in hack/kube, one module and one go.sum for all of them, so the
#   main module never depends on k8s.io/kubernetes and the components share
#   the Go build cache (a kubelet built after kube-apiserver compiles only the
#   ~20% of its packages the API server does not have).
#
# The folder is $GADGET_ENVTEST_DIR, else $XDG_CACHE_HOME/gadget-envtest,
# else ~/.cache/gadget-envtest. A cold build of kube-apiserver takes about
# five minutes on two cores, the four node components about as long again on
# a warm cache; later runs only check that each binary is up to date.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${GADGET_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gadget-envtest}
mkdir -p "$dir"

log() { echo "envtest-assets: $*" >&2; }

components=(kube-apiserver)
for c in "$@"; do
	case $c in
	kube-apiserver) ;;
	kubelet | kube-scheduler | kube-controller-manager | kube-proxy) components+=("$c") ;;
	*)
		log "unknown component $c: use kubelet, kube-scheduler, kube-controller-manager or kube-proxy"
		exit 2
		;;
	esac
done

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

# The release the module builds, stamped into the binaries: without it they
# report v0.0.0-master+$Format:%H$, which kubectl cannot parse.
src=$root/hack/kube
version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$src/go.mod")
[[ $version =~ ^v([0-9]+)\.([0-9]+)\. ]] || { log "no k8s.io/kubernetes version in $src/go.mod"; exit 1; }
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=${BASH_REMATCH[1]} -X $pkg.gitMinor=${BASH_REMATCH[2]} -X $pkg.gitTreeState=clean"

# Rebuilt when the module, the component's main.go or the flags change.
stale=()
for c in "${components[@]}"; do
	stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/$c/main.go" <(echo "$ldflags") | sha256sum | cut -c1-16)
	if [[ ! -x $dir/$c || "$(cat "$dir/$c.stamp" 2>/dev/null)" != "$stamp" ]]; then
		stale+=("$c")
		echo "$stamp" >"$dir/$c.stamp.new"
	fi
done
if [[ ${#stale[@]} -gt 0 ]]; then
	log "building ${stale[*]} $version into $dir (kube-apiserver alone: about 5 minutes cold)"
	tmp=$(mktemp -d "$dir/build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# One go build for all of them: the packages they share compile once.
	(cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${stale[@]/#/./}")
	for c in "${stale[@]}"; do
		mv "$tmp/$c" "$dir/$c"
		mv "$dir/$c.stamp.new" "$dir/$c.stamp"
	done
fi
echo "$dir"
