#!/usr/bin/env bash
# cluster.sh starts and stops a real single-node Kubernetes cluster on this
# machine for the real-node end-to-end test (make e2e-node). Root only.
#
#   hack/e2e-node/cluster.sh up   BINDIR IMAGE.tar...   start it, import the images
#   hack/e2e-node/cluster.sh down                       stop it, restore the host
#   hack/e2e-node/cluster.sh env                        print KUBECONFIG=… NODE=… lines
#
# BINDIR holds kube-apiserver, kubelet, kube-scheduler, kube-controller-manager
# and kube-proxy (hack/envtest-assets.sh builds them from Go modules). etcd,
# containerd, runc and the CNI plugins are Debian's. The sandbox image
# (E2E_PAUSE_IMAGE, default localhost/gadget-e2e/pause:e2e) must be among the
# imported tarballs: nothing is pulled from a registry.
#
# The node is NODE (gadget-e2e) with address NODE_IP (10.250.0.1) on a veth
# interface of its own, pods in POD_CIDR (10.251.0.0/24) on the bridge
# gadget-cni0 (no default route: pods reach only the node, each other and
# Services), Services in SVC_CIDR (10.252.0.0/24), all local to this machine.
# State, certificates and logs live in STATE (/var/tmp/gadget-e2e-node).
#
# What the cluster changes on the host is recorded by `up` and undone by
# `down`, which is safe to run at any time, also after a failed or killed
# `up`: pods deleted while the kubelet runs, then every process stopped by PID,
# the pods' processes killed by cgroup, mounts under STATE unmounted, the
# cgroups, network namespaces, interfaces, iptables chains (KUBE-*) and
# sysctls the kubelet, kube-proxy and the CNI plugins made removed or
# restored, and STATE removed (its logs are copied to $E2E_NODE_LOGS first if set).
set -euo pipefail

STATE=${E2E_NODE_STATE:-/var/tmp/gadget-e2e-node}
NODE=gadget-e2e
NODE_IP=10.250.0.1
NODE_LINK=gadget-node0
POD_CIDR=10.251.0.0/24
POD_GW=10.251.0.1
BRIDGE=gadget-cni0
SVC_CIDR=10.252.0.0/24
SVC_API_IP=10.252.0.1
PAUSE_IMAGE=${E2E_PAUSE_IMAGE:-localhost/gadget-e2e/pause:e2e}
ETCD_PORT=2399
API_PORT=6443
SOCK=$STATE/containerd/containerd.sock
# Host paths the kubelet, containerd and libcni use whatever their flags say;
# removed by down when up found them missing.
FIXED_PATHS=(/run/containerd /var/lib/cni /var/lib/kubelet /usr/libexec/kubernetes /var/log/containers /var/log/pods
	/var/lib/gadget) # the last: the DaemonSet's hostPaths (plugins, checkpoints)
SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory kernel.panic kernel.panic_on_oops
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.conf.all.route_localnet)

log() { echo "cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}

[[ $EUID -eq 0 ]] || die "needs root (containerd, kubelet, iptables): run it with sudo"

kubeconfig() { # NAME CERT KEY
	cat >"$STATE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    certificate-authority: $STATE/pki/ca.crt
    server: https://$NODE_IP:$API_PORT
users:
- name: $1
  user:
    client-certificate: $2
    client-key: $3
contexts:
- name: $1@e2e
  context: {cluster: e2e, user: $1}
current-context: $1@e2e
EOF
}

cert() { # NAME SUBJECT [SANS]
	local p=$STATE/pki/$1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$p.key" -out "$p.csr" -subj "$2" 2>/dev/null
	local ext=$STATE/pki/$1.ext
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		if [[ -n ${3:-} ]]; then
			echo "extendedKeyUsage=serverAuth,clientAuth"
			echo "subjectAltName=$3"
		else
			echo "extendedKeyUsage=clientAuth"
		fi
	} >"$ext"
	openssl x509 -req -in "$p.csr" -CA "$STATE/pki/ca.crt" -CAkey "$STATE/pki/ca.key" \
		-CAcreateserial -days 2 -extfile "$ext" -out "$p.crt" 2>/dev/null
}

certificates() {
	mkdir -p "$STATE/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-keyout "$STATE/pki/ca.key" -out "$STATE/pki/ca.crt" -subj "/CN=gadget-e2e-ca" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" \
		"IP:$NODE_IP,IP:$SVC_API_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert admin "/O=system:masters/CN=e2e-admin"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE"
	cert kubelet-serving "/CN=$NODE" "IP:$NODE_IP,DNS:$NODE"
	cert scheduler "/CN=system:kube-scheduler"
	cert controller-manager "/CN=system:kube-controller-manager"
	cert proxy "/CN=system:kube-proxy"
	openssl genrsa -out "$STATE/pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$STATE/pki/sa.key" -pubout -out "$STATE/pki/sa.pub" 2>/dev/null
	local n
	for n in admin kubelet scheduler controller-manager proxy; do
		kubeconfig "$n" "$STATE/pki/$n.crt" "$STATE/pki/$n.key"
	done
}

# start NAME CMD...: runs CMD in its own session, logging to logs/NAME.log.
start() {
	local name=$1
	shift
	setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$STATE/pids/$name"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

containerd_config() {
	mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/cni/ipam"
	cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj is refused
  # and would kill every sandbox at creation.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
	# No loopback plugin (containerd sets lo up); no default route in the
	# pods: they reach the node, each other and the Service range only.
	cat >"$STATE/cni/net.d/10-gadget-e2e.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "gadget-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": true,
    "isDefaultGateway": false,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "$STATE/cni/ipam",
      "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
      "routes": [{"dst": "$SVC_CIDR"}, {"dst": "$NODE_IP/32"}]
    }
  }]
}
EOF
}

kubelet_config() {
	cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $STATE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $STATE/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://$SOCK
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/volume-plugins
oomScoreAdj: 0
serializeImagePulls: false
clusterDomain: cluster.local
resolvConf: $STATE/resolv.conf
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
EOF
	# Pods get no resolver: nothing in the test resolves names, and none of
	# their traffic may leave the machine.
	: >"$STATE/resolv.conf"
}

save_host() {
	local p s
	: >"$STATE/created-paths"
	for p in "${FIXED_PATHS[@]}"; do
		[[ -e $p ]] || echo "$p" >>"$STATE/created-paths"
	done
	: >"$STATE/sysctls"
	for s in "${SYSCTLS[@]}"; do
		if v=$(sysctl -n "$s" 2>/dev/null); then echo "$s=$v" >>"$STATE/sysctls"; fi
	done
	: >"$STATE/cgroups-created"
	for c in /sys/fs/cgroup/*/; do
		[[ -d $c/kubepods ]] || echo "$c/kubepods" >>"$STATE/cgroups-created"
	done
	ip netns list 2>/dev/null | awk '{print $1}' | sort >"$STATE/netns-before"
	mountpoint -q /run/netns || echo /run/netns >"$STATE/netns-mount-created"
}

up() {
	local bindir=$1
	shift
	local b
	for b in kube-apiserver kubelet kube-scheduler kube-controller-manager kube-proxy; do
		[[ -x $bindir/$b ]] || die "$bindir/$b not found: build it with hack/envtest-assets.sh kubelet kube-scheduler kube-controller-manager kube-proxy"
	done
	for b in etcd containerd runc ctr openssl iptables-save; do
		command -v "$b" >/dev/null || die "$b not found: apt-get install etcd-server containerd runc containernetworking-plugins openssl iptables"
	done
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || die "CNI plugins not found in /usr/lib/cni: apt-get install containernetworking-plugins"
	[[ ! -e $STATE ]] || die "$STATE exists: a cluster is up or was not torn down; run '$0 down' first"
	mkdir -p "$STATE/logs" "$STATE/pids"
	save_host
	local t0=$SECONDS

	certificates
	# A veth pair of its own carries the node's address (this kernel has no
	# dummy interfaces); removing one end removes both.
	ip link add "$NODE_LINK" type veth peer name "${NODE_LINK}p"
	ip addr add "$NODE_IP/32" dev "$NODE_LINK"
	ip link set "${NODE_LINK}p" up
	ip link set "$NODE_LINK" up
	# gadgetd mounts /var/run/netns with HostToContainer propagation, which
	# needs a shared mount there (on a systemd host / is shared). ip netns
	# makes /run/netns one, as on any host where it has run.
	if ! mountpoint -q /run/netns; then
		ip netns add gadget-e2e-probe && ip netns del gadget-e2e-probe
	fi

	start etcd etcd --name e2e --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
		--initial-cluster "e2e=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
	start kube-apiserver "$bindir/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
		--tls-cert-file "$STATE/pki/apiserver.crt" --tls-private-key-file "$STATE/pki/apiserver.key" \
		--client-ca-file "$STATE/pki/ca.crt" \
		--kubelet-client-certificate "$STATE/pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$STATE/pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$STATE/pki/ca.crt" \
		--kubelet-preferred-address-types InternalIP \
		--service-account-issuer "https://kubernetes.default.svc.cluster.local" \
		--service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
		--service-cluster-ip-range "$SVC_CIDR" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--allow-privileged=true
	containerd_config
	start containerd containerd --config "$STATE/containerd/config.toml"
	wait_for "containerd" 30 ctr --address "$SOCK" version
	for b in "$@"; do
		ctr --address "$SOCK" -n k8s.io images import --all-platforms --no-unpack "$b" >/dev/null ||
			die "importing $b into containerd failed"
	done
	local images
	images=$(ctr --address "$SOCK" -n k8s.io images ls -q)
	grep -qx "$PAUSE_IMAGE" <<<"$images" ||
		die "the sandbox image $PAUSE_IMAGE is not among the imported images"
	local admin=$STATE/admin.kubeconfig
	wait_for "kube-apiserver" 60 kubectl --kubeconfig "$admin" get --raw /readyz

	kubelet_config
	start kubelet "$bindir/kubelet" --config "$STATE/kubelet-config.yaml" \
		--kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet-pki" \
		--node-ip "$NODE_IP" --hostname-override "$NODE"
	start kube-scheduler "$bindir/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
		--leader-elect=false --secure-port=0
	start kube-controller-manager "$bindir/kube-controller-manager" --kubeconfig "$STATE/controller-manager.kubeconfig" \
		--leader-elect=false --secure-port=0 --use-service-account-credentials=true \
		--service-account-private-key-file "$STATE/pki/sa.key" --root-ca-file "$STATE/pki/ca.crt" \
		--cluster-signing-cert-file "$STATE/pki/ca.crt" --cluster-signing-key-file "$STATE/pki/ca.key" \
		--service-cluster-ip-range "$SVC_CIDR" --controllers '*,-nodeipam,-cloud-node-lifecycle'
	# Conntrack and localhost-NodePort settings left as the host has them.
	start kube-proxy "$bindir/kube-proxy" --kubeconfig "$STATE/proxy.kubeconfig" \
		--hostname-override "$NODE" --proxy-mode iptables --cluster-cidr "$POD_CIDR" \
		--conntrack-max-per-core 0 --conntrack-min 0 \
		--conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
		--iptables-localhost-nodeports=false \
		--healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249
	wait_for "node $NODE Ready" 90 kubectl --kubeconfig "$admin" wait --for=condition=Ready "node/$NODE" --timeout=2s
	wait_for "the default ServiceAccount" 60 kubectl --kubeconfig "$admin" get serviceaccount default
	wait_for "kube-proxy's Service rules" 60 iptables -t nat -S KUBE-SERVICES
	log "up in $((SECONDS - t0))s: node $NODE ($NODE_IP), kubeconfig $admin"
}

# kill_pidfile FILE: stops the process whose PID FILE holds, TERM then KILL.
kill_pidfile() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

down() {
	[[ -d $STATE ]] || {
		log "nothing to tear down ($STATE does not exist)"
		return 0
	}
	set +e
	local admin=$STATE/admin.kubeconfig
	# Pods first, while the kubelet still runs, so it stops them properly.
	if [[ -f $STATE/pids/kubelet ]] && kill -0 "$(cat "$STATE/pids/kubelet")" 2>/dev/null &&
		kubectl --kubeconfig "$admin" get --raw /readyz >/dev/null 2>&1; then
		kubectl --kubeconfig "$admin" delete daemonsets,deployments,replicasets,jobs --all -A --wait=false >/dev/null 2>&1
		kubectl --kubeconfig "$admin" delete pods --all -A --grace-period=5 --timeout=40s >/dev/null 2>&1
	fi
	local n
	for n in kube-proxy kube-controller-manager kube-scheduler kubelet; do
		kill_pidfile "$STATE/pids/$n"
	done
	# What is left in the pods' cgroups, then the shims and containerd.
	local pids
	pids=$(cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
		/sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u)
	[[ -z $pids ]] || kill -KILL $pids 2>/dev/null
	pids=$(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK")
	[[ -z $pids ]] || kill -KILL $pids 2>/dev/null
	kill_pidfile "$STATE/pids/containerd"
	for n in kube-apiserver etcd; do
		kill_pidfile "$STATE/pids/$n"
	done
	# kube-proxy's rules and the kubelet's chains: every KUBE- line out of
	# each table.
	if [[ -x ${BINDIR:-}/kube-proxy ]]; then "$BINDIR/kube-proxy" --cleanup >/dev/null 2>&1; fi
	local ipt
	for ipt in iptables ip6tables; do
		if $ipt-save 2>/dev/null | grep -q 'KUBE-'; then
			$ipt-save | grep -v 'KUBE-' | $ipt-restore
		fi
	done
	# Mounts under STATE (rootfs, shm, volumes), deepest first.
	awk -v s="$STATE" '$5 == s || index($5, s "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
	# Network namespaces the pods had, the bridge and the node's address.
	comm -13 "$STATE/netns-before" <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep '^cni-' |
		while read -r ns; do ip netns del "$ns"; done
	if [[ -f $STATE/netns-mount-created ]] && [[ -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
		umount /run/netns 2>/dev/null
	fi
	ip link del "$BRIDGE" 2>/dev/null
	ip link del "$NODE_LINK" 2>/dev/null
	rm -f /var/lib/cni/results/gadget-e2e-* 2>/dev/null
	# The pods' cgroups, innermost first.
	while read -r c; do
		[[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done <"$STATE/cgroups-created"
	while IFS='=' read -r k v; do
		sysctl -qw "$k=$v" >/dev/null
	done <"$STATE/sysctls"
	while read -r p; do rm -rf "$p"; done <"$STATE/created-paths"
	if [[ -n ${E2E_NODE_LOGS:-} ]]; then
		mkdir -p "$E2E_NODE_LOGS" && cp -r "$STATE/logs/." "$E2E_NODE_LOGS/"
	fi
	rm -rf "$STATE"
	set -e
	log "down: host restored"
}

case ${1:-} in
up)
	shift
	[[ $# -ge 1 ]] || die "usage: $0 up BINDIR IMAGE.tar..."
	up "$@"
	;;
down)
	BINDIR=${2:-${BINDIR:-}}
	down
	;;
env)
	echo "KUBECONFIG=$STATE/admin.kubeconfig"
	echo "E2E_NODE=$NODE"
	echo "E2E_NODE_IP=$NODE_IP"
	echo "E2E_POD_CIDR=$POD_CIDR"
	echo "E2E_STATE=$STATE"
	;;
*) die "usage: $0 up BINDIR IMAGE.tar... | down [BINDIR] | env" ;;
esac
