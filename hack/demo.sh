#!/usr/bin/env bash
# Local demo of the network-graph gadget, self-contained and root only:
#
#   sudo ./hack/demo.sh bin/gadget        (what 'sudo make demo' runs)
#
# It builds four "pods" -- network namespaces gdemo-frontend, gdemo-api,
# gdemo-db and gdemo-dns -- on a Linux bridge that lives in a fifth
# namespace, gdemo-br, so the host's own network is never touched. The pods
# get 10.77.0.0/24 and fd77::/64 addresses and real traffic:
#
#   frontend -> api  TCP 8080 (HTTP, IPv4 and IPv6)
#   api      -> db   TCP 5432 (IPv4 and IPv6)
#   frontend, api -> dns  UDP 53 (queries and replies, IPv4 and IPv6)
#
# Then it runs 'gadget run network-graph --netns ... --duration 6s' twice at
# once over the same traffic, once with -o table and once with -o dot,
# prints both results and checks that every expected edge was seen. A third
# run serves the live web view (--web, docs/web.md) meanwhile and prints
# its address:
#   DEMO_WEB=1            keep serving it, with the traffic going, until Ctrl-C
#   GDEMO_WEB_ADDR        where to serve it (127.0.0.1:8099)
#   GDEMO_SCREENSHOT=F    save a screenshot of it to F (make docs-screenshots)
# Everything it creates is named gdemo-* and removed on success, failure or
# Ctrl-C. Traffic only flows between these namespaces.
set -euo pipefail

PREFIX=gdemo
PODS=(frontend api db dns)
declare -A IP4=([frontend]=10.77.0.2 [api]=10.77.0.3 [db]=10.77.0.4 [dns]=10.77.0.5)
declare -A IP6=([frontend]=fd77::2 [api]=fd77::3 [db]=fd77::4 [dns]=fd77::5)
DURATION=${GDEMO_DURATION:-6s}
WEB_ADDR=${GDEMO_WEB_ADDR:-127.0.0.1:8099}
REPO=$(cd "$(dirname "$0")/.." && pwd)
# The clients stop after 60s, unless the live view is kept open.
if [[ ${DEMO_WEB:-} == 1 ]]; then export GDEMO_FOREVER=1; fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

if [[ $# -ne 1 ]]; then
	echo "usage: sudo $0 path/to/gadget   (or: sudo make demo)" >&2
	exit 2
fi
if [[ $EUID -ne 0 ]]; then
	echo "demo: needs root to create network namespaces and load eBPF: run 'sudo make demo'" >&2
	exit 2
fi
GADGET=$(realpath "$1") || die "gadget binary $1 not found: run 'make build' first"
[[ -x $GADGET ]] || die "$GADGET is not executable: run 'make build' first"

# Tools: iproute2 and python3 come from Debian's packages on a fresh machine.
need=()
command -v ip >/dev/null || need+=(iproute2)
[[ -x /usr/bin/python3 ]] || need+=(python3)
if [[ ${#need[@]} -gt 0 ]]; then
	say "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's python3, not a shim on PATH (a pyenv shim took seconds to start
# each client, longer than the trace runs when the machine is busy).
PYTHON=/usr/bin/python3

NETNS=("$PREFIX-br")
for p in "${PODS[@]}"; do NETNS+=("$PREFIX-$p"); done
PIDS=()
TMP=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	for ns in "${NETNS[@]}"; do
		if [[ -e /var/run/netns/$ns ]]; then
			# Anything still running inside our own namespaces is ours.
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		fi
	done
	[[ -n $TMP ]] && rm -rf "$TMP"
	if [[ $rc -eq 0 ]]; then
		echo "demo: cleaned up"
	elif [[ $rc -eq 130 || $rc -eq 143 ]]; then
		echo "demo: interrupted; cleaned up" >&2
	else
		echo "demo: cleaned up after failure (exit $rc)" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ns in "${NETNS[@]}"; do
	if [[ -e /var/run/netns/$ns ]]; then
		echo "demo: removing $ns left over from an earlier run"
		ip netns pids "$ns" | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns"
	fi
done
TMP=$(mktemp -d "/tmp/$PREFIX-XXXXXX")

say "creating the pods ${PODS[*]} on a bridge in netns $PREFIX-br"
ip netns add "$PREFIX-br"
ip -n "$PREFIX-br" link add br0 type bridge
ip -n "$PREFIX-br" link set br0 up
ip -n "$PREFIX-br" link set lo up
for p in "${PODS[@]}"; do
	ns=$PREFIX-$p
	ip netns add "$ns"
	ip -n "$PREFIX-br" link add "v-$p" type veth peer name eth0 netns "$ns"
	ip -n "$PREFIX-br" link set "v-$p" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "${IP4[$p]}/24" dev eth0
	ip -n "$ns" addr add "${IP6[$p]}/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	printf '  %-16s %-10s %s\n' "$ns" "${IP4[$p]}" "${IP6[$p]}"
done

# One small program plays every role: servers answer, clients send a
# request or query every 200ms for at most 60s, then stop by themselves.
cat >"$TMP/roles.py" <<'PY'
import os, socket, sys, time, urllib.request

def dual(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    return s

def tcp_server(port):
    s = dual(socket.SOCK_STREAM, port)
    s.listen(64)
    while True:
        c, _ = s.accept()
        with c:
            c.recv(512)
            c.sendall(b"ok\n")

def udp_server(port):
    s = dual(socket.SOCK_DGRAM, port)
    while True:
        data, peer = s.recvfrom(512)
        s.sendto(b"answer:" + data, peer)

def loop(once):
    forever = os.environ.get("GDEMO_FOREVER") == "1"
    deadline = time.monotonic() + 60
    n = 0
    while forever or n < 300:
        n += 1
        if not forever and time.monotonic() > deadline:
            break
        try:
            once()
        except OSError as e:
            print(f"client: {e}", file=sys.stderr)
        time.sleep(0.2)

def http_client(url):
    # No proxy, whatever the environment says: the traffic stays local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    loop(lambda: opener.open(url, timeout=2).read())

def tcp_client(host, port):
    def once():
        with socket.create_connection((host, port), timeout=2) as c:
            c.sendall(b"SELECT 1;\n")
            c.recv(512)
    loop(once)

def udp_client(host, port):
    def once():
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as c:
            c.settimeout(2)
            c.sendto(b"A? api.demo", (host, port))
            c.recvfrom(512)
    loop(once)

role, args = sys.argv[1], sys.argv[2:]
{"tcp-server": lambda: tcp_server(int(args[0])),
 "udp-server": lambda: udp_server(int(args[0])),
 "http-client": lambda: http_client(args[0]),
 "tcp-client": lambda: tcp_client(args[0], int(args[1])),
 "udp-client": lambda: udp_client(args[0], int(args[1]))}[role]()
PY
mkdir -p "$TMP/www"
echo "hello from api" >"$TMP/www/index.html"

in_pod() { # in_pod POD CMD...: run CMD in the background inside the pod
	local p=$1
	shift
	ip netns exec "$PREFIX-$p" "$@" >>"$TMP/$p.log" 2>&1 &
	PIDS+=($!)
}

say "starting servers: api tcp/8080 (HTTP), db tcp/5432, dns udp/53"
in_pod api "$PYTHON" -m http.server --bind :: --directory "$TMP/www" 8080
in_pod db "$PYTHON" "$TMP/roles.py" tcp-server 5432
in_pod dns "$PYTHON" "$TMP/roles.py" udp-server 53

wait_listening() { # wait_listening POD tcp|udp PORT
	local ns=$PREFIX-$1 flag=-ltn
	[[ $2 == udp ]] && flag=-lun
	for _ in $(seq 100); do
		if ip netns exec "$ns" ss -H "$flag" "sport = :$3" | grep -q .; then return 0; fi
		sleep 0.05
	done
	die "$2/$3 in $ns is not listening after 5s; see $TMP/${1}.log"
}
wait_listening api tcp 8080
wait_listening db tcp 5432
wait_listening dns udp 53

say "starting traffic"
in_pod frontend "$PYTHON" "$TMP/roles.py" http-client "http://${IP4[api]}:8080/"
in_pod frontend "$PYTHON" "$TMP/roles.py" http-client "http://[${IP6[api]}]:8080/"
in_pod frontend "$PYTHON" "$TMP/roles.py" udp-client "${IP4[dns]}" 53
in_pod frontend "$PYTHON" "$TMP/roles.py" udp-client "${IP6[dns]}" 53
in_pod api "$PYTHON" "$TMP/roles.py" tcp-client "${IP4[db]}" 5432
in_pod api "$PYTHON" "$TMP/roles.py" tcp-client "${IP6[db]}" 5432
in_pod api "$PYTHON" "$TMP/roles.py" udp-client "${IP4[dns]}" 53
in_pod api "$PYTHON" "$TMP/roles.py" udp-client "${IP6[dns]}" 53
echo "  frontend -> api tcp/8080, api -> db tcp/5432, frontend+api -> dns udp/53 (v4 and v6)"

args=(run network-graph --duration "$DURATION")
for p in "${PODS[@]}"; do args+=(--netns "$PREFIX-$p"); done

# The live view: a third run with --web, for as long as the others (or,
# with DEMO_WEB=1 or a screenshot to take, until the end of the demo).
webargs=(run network-graph --web "$WEB_ADDR" -o jsonl)
for p in "${PODS[@]}"; do webargs+=(--netns "$PREFIX-$p"); done
if [[ ${DEMO_WEB:-} != 1 && -z ${GDEMO_SCREENSHOT:-} ]]; then webargs+=(--duration "$DURATION"); fi
"$GADGET" "${webargs[@]}" >/dev/null 2>"$TMP/web.err" &
webpid=$!
PIDS+=("$webpid")
url=""
for _ in $(seq 100); do
	url=$(sed -n 's/^live view: \(http[^ ]*\).*/\1/p' "$TMP/web.err")
	[[ -n $url ]] && break
	kill -0 "$webpid" 2>/dev/null || { cat "$TMP/web.err" >&2; die "gadget run --web $WEB_ADDR failed (is the port free? set GDEMO_WEB_ADDR)"; }
	sleep 0.1
done
[[ -n $url ]] || die "gadget run --web printed no address in 10s; see $TMP/web.err"
say "live view of the graph: $url"

say "gadget ${args[*]} -o table   (and -o dot at the same time)"
"$GADGET" "${args[@]}" -o dot >"$TMP/graph.dot" 2>"$TMP/dot.err" &
dotpid=$!
PIDS+=("$dotpid")
rc=0
"$GADGET" "${args[@]}" -o table | tee "$TMP/graph.txt" || rc=$?
wait "$dotpid" || { cat "$TMP/dot.err" >&2; die "the -o dot run failed"; }
[[ $rc -eq 0 ]] || die "gadget run failed (exit $rc)"

say "the same traffic as a Graphviz digraph (-o dot; render with: dot -Tsvg graph.dot > graph.svg)"
cat "$TMP/graph.dot"

say "checking the edges"
# POD PKTTYPE PROTO IP PORT, as in the table's columns 3 to 7.
expected=()
for fam in IP4 IP6; do
	declare -n ip=$fam
	expected+=(
		"$PREFIX-frontend OUTGOING tcp ${ip[api]} 8080"
		"$PREFIX-api HOST tcp ${ip[frontend]} 8080"
		"$PREFIX-api OUTGOING tcp ${ip[db]} 5432"
		"$PREFIX-db HOST tcp ${ip[api]} 5432"
		"$PREFIX-frontend OUTGOING udp ${ip[dns]} 53"
		"$PREFIX-api OUTGOING udp ${ip[dns]} 53"
		"$PREFIX-dns HOST udp ${ip[frontend]} 53"
		"$PREFIX-dns HOST udp ${ip[api]} 53"
	)
	unset -n ip
done
seen=$(awk 'NR > 1 { print $3, $4, $5, $6, $7 }' "$TMP/graph.txt")
missing=0
for e in "${expected[@]}"; do
	if grep -qxF "$e" <<<"$seen"; then
		echo "  ok       $e"
	else
		echo "  MISSING  $e"
		missing=$((missing + 1))
	fi
done
[[ $missing -eq 0 ]] || die "$missing of ${#expected[@]} expected edges are missing from the graph"
grep -qF -- "-> " "$TMP/graph.dot" || die "the DOT graph has no edge"
echo "demo: all ${#expected[@]} expected edges seen"

if [[ -n ${GDEMO_SCREENSHOT:-} ]]; then
	say "screenshot of $url to $GDEMO_SCREENSHOT"
	(cd "$REPO" && go run ./hack/webshot -url "$url" -edges 4 -out "$GDEMO_SCREENSHOT")
fi
if [[ ${DEMO_WEB:-} == 1 ]]; then
	say "serving the live view at $url until Ctrl-C (DEMO_WEB=1)"
	trap 'exit 0' INT
	wait "$webpid"
fi
