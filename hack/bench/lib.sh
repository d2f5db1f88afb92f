# Shared helpers of the hack/bench scripts; sourced, not run.
# Every network namespace a benchmark creates is named gbench-*; every
# process it starts is recorded in BENCH_PIDS and ended by bench_cleanup.

BENCH_PIDS=()
BENCH_NETNS=()

bench_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
bench_die() { echo "bench: $*" >&2; exit 1; }

# bench_need_root exits unless running as root.
bench_need_root() {
	[[ $EUID -eq 0 ]] || { echo "bench: needs root to create network namespaces and load eBPF: run 'sudo make bench'" >&2; exit 2; }
}

# bench_install CMD:PKG... installs the Debian packages of missing commands.
bench_install() {
	local need=() pair
	for pair in "$@"; do
		command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
	done
	[[ ${#need[@]} -eq 0 ]] && return 0
	bench_log "installing ${need[*]}"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# bench_netns_add NAME creates a network namespace and remembers it.
bench_netns_add() {
	ip netns add "$1"
	BENCH_NETNS+=("$1")
	ip -n "$1" link set lo up
}

# bench_pair A B CIDR_A CIDR_B links namespaces A and B with a veth pair
# (veth-a in A, veth-b in B).
bench_pair() {
	local a=$1 b=$2
	ip link add gbench-va netns "$a" type veth peer name gbench-vb netns "$b"
	ip -n "$a" link set gbench-va name veth-a
	ip -n "$b" link set gbench-vb name veth-b
	ip -n "$a" addr add "$3" dev veth-a
	ip -n "$b" addr add "$4" dev veth-b
	ip -n "$a" link set veth-a up
	ip -n "$b" link set veth-b up
}

# bench_iperf_pair A B NET: namespaces A and B joined by a veth pair in
# NET (a /24 written "10.99.0": .1 in A, .2 in B) and an iperf3 server in
# B on NET.2:5201, listening when it returns; its pid is in SERVER.
bench_iperf_pair() {
	local a=$1 b=$2 net=$3 deadline=$((SECONDS + 10))
	bench_netns_add "$a"
	bench_netns_add "$b"
	bench_pair "$a" "$b" "$net.1/24" "$net.2/24"
	bench_bg ip netns exec "$b" iperf3 -s -B "$net.2" -p 5201 >/dev/null 2>&1
	SERVER=$BENCH_LAST_PID
	until ip netns exec "$b" ss -Hltn 'sport = :5201' | grep -q .; do
		((SECONDS < deadline)) || bench_die "iperf3 server in $b did not start"
		sleep 0.05
	done
}

# bench_bg CMD... starts CMD in the background and remembers its pid in
# BENCH_LAST_PID.
bench_bg() {
	"$@" &
	BENCH_LAST_PID=$!
	BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_pin CPU prints the command prefix that runs a Go load on CPU alone
# with one scheduler thread (taskset, GOMAXPROCS=1), on a machine with two
# CPUs or more; nothing otherwise. Use it unquoted: $(bench_pin 0) CMD...
# The churn client and server each pinned to a CPU of their own strayed
# ±3 % from slice to slice here, against ±45 % when the scheduler moved
# them and their goroutines about.
bench_pin() { if (($(nproc) >= 2)); then echo "taskset -c $1 env GOMAXPROCS=1"; fi; }

# bench_stop PID [SIGNAL] stops a process started by bench_bg and waits.
bench_stop() {
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# bench_wait_for FILE PATTERN [SECONDS] polls FILE until it matches PATTERN.
bench_wait_for() {
	local file=$1 pat=$2 deadline=$((SECONDS + ${3:-20}))
	until grep -qE -- "$pat" "$file" 2>/dev/null; do
		((SECONDS < deadline)) || { echo "bench: timed out waiting for '$pat' in $file:" >&2; tail -5 "$file" >&2; return 1; }
		sleep 0.05
	done
}

bench_cleanup() {
	local pid ns
	set +e
	for pid in "${BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	for ns in "${BENCH_NETNS[@]}"; do
		if [[ -e /var/run/netns/$ns ]]; then
			# Anything still running inside our own namespaces is ours.
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		fi
	done
	BENCH_PIDS=()
	BENCH_NETNS=()
}

# median reads numbers, one a line, and prints their median.
median() {
	sort -g | awk '{v[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

# load_avg prints the 1-minute load average.
load_avg() { cut -d' ' -f1 /proc/loadavg; }

# bench_progshare OUTDIR ATTACH LOAD [busiest]: the share of the busy CPU
# time that network-graph's programs took during socket.sh's program-
# statistics run of LOAD (tcp, churn or udp) in mode ATTACH, as "WHOLE OWN"
# (percent): whole, their run time; own, less what their trivial twins on
# the same hooks took per run (the statistics' and the hook's own price).
# Over all CPUs' busy time, or the busiest CPU's with busiest (a flood's
# sender, which runs both ends' programs). "n/a n/a" when the run is
# missing.
bench_progshare() {
	local base=$1/socket-progstats-$2-$3 busy
	[[ -s $base.json && -s $base.busy ]] || { echo "n/a n/a"; return; }
	read -r -a busy <"$base.busy"
	[[ ${4:-} == busiest ]] && busy=("${busy[1]:-0}")
	jq -r --argjson busy "${busy[0]}" '
		def twin(p): if p == "network_graph_tcx" then .gbench_trivial.ns_per_run // 0
			elif p == "network_graph_tcp_state" then .gbench_tcpstate.ns_per_run // 0 else 0 end;
		. as $s
		| [("network_graph_tcx", "network_graph_tcp_state", "network_graph_iter_tcp") as $p
			| ($s[$p] // {runs: 0, ns_per_run: 0, runtime_ms: 0})
			| {whole: .runtime_ms, own: (.runs * ([.ns_per_run - ($s | twin($p)), 0] | max) / 1e6)}]
		| if $busy > 0 then "\((map(.whole) | add) * 100 / $busy) \((map(.own) | add) * 100 / $busy)" else "n/a n/a" end
	' "$base.json"
}

# BENCH_JQ_MEDIAN defines jq's median_and_each: an array of numbers as
# "MEDIAN V1 V2 ..." (in the array's order), or "" when it is empty.
BENCH_JQ_MEDIAN='def median_and_each: . as $r | (sort) as $o | ($o | length) as $n
	| if $n == 0 then "" else
		([(if $n % 2 == 1 then $o[($n - 1) / 2] else ($o[$n / 2 - 1] + $o[$n / 2]) / 2 end)] + $r | map(tostring) | join(" "))
	end;'

# bench_sel PROTO MODE: the jq filter keeping the runs of a flood file
# (socket.sh's socket-flood.jsonl) of protocol PROTO and mode MODE.
bench_sel() { echo "select(.proto == \"$1\" and .mode == \"$2\")"; }

# bench_median JSONL SELECT FIELD: the median of FIELD over the runs of
# JSONL that jq's SELECT keeps, then each run's, in order; nothing when
# there are none.
bench_median() {
	jq -rs "$BENCH_JQ_MEDIAN [.[] | $2 | $3 | select(. != null)] | median_and_each" "$1"
}

# bench_beyond JSONL SELECT_ON SELECT_BASE FIELD: a cost beyond another,
# per round: the i-th run SELECT_ON keeps, its FIELD over the i-th run's
# of SELECT_BASE (each measured against its own off slices), e.g.
# network-graph's UDP flood ratio over the bare hooks'. Prints the median,
# then each round's, or nothing when no round has both.
bench_beyond() {
	jq -rs "$BENCH_JQ_MEDIAN [.[] | $2 | $4] as \$s | [.[] | $3 | $4] as \$t
		| [range(0; [(\$t | length), (\$s | length)] | min) | select(\$t[.] != null and \$s[.] != null and \$t[.] > 0) | \$s[.] / \$t[.]]
		| median_and_each" "$1"
}
