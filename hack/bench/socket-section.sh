#!/usr/bin/env bash
# Prints the benchmarks section of network-graph's attach modes side by
# side (issue 17) from what hack/bench/socket.sh wrote in OUTDIR:
#
#   hack/bench/socket-section.sh OUTDIR
#
# report.sh puts it into docs/benchmarks.md; 'make bench-socket' prints it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
FL=$OUT/socket-flood.jsonl
CH=$OUT/socket-churn.jsonl
[[ -s $FL && -s $CH ]] || { echo "socket-section: no socket-flood.jsonl or socket-churn.jsonl in $OUT (run hack/bench/socket.sh)" >&2; exit 1; }

pct() { awk -v v="$1" 'BEGIN { if (v == "nan" || v == "" || v == "null") print "n/a"; else printf "%+.1f %%\n", (v - 1) * 100 }'; }
range() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "null") print "n/a"; else printf "%+.0f…%+.0f %%\n", (a - 1) * 100, (b - 1) * 100 }'; }
# fl PROTO MODE JQ: a field of a stream or flood run.
fl() { jq -r --arg p "$1" --arg m "$2" "select(.proto == \$p and .mode == \$m) | $3" "$FL" | head -1; }
# ch MODE JQ: a field of a churn run.
ch() { jq -r --arg m "$1" "select(.mode == \$m) | $2" "$CH" | head -1; }
# verdict RATIO FLOOR: PASS when RATIO >= FLOOR.
verdict() { awk -v r="$1" -v f="$2" 'BEGIN { if (r == "" || r == "null") print "n/a"; else if (r >= f) print "PASS"; else print "**MISS**" }'; }
name() { case $1 in none) echo "nothing (control)" ;; trivial) echo "a program that only returns, at the same TCX hooks" ;; trivial-socket) echo "that, and one that only returns on the TCP state tracepoint (socket mode's bare hooks)" ;; network-graph) echo "network-graph, \`attach=socket\` (default)" ;; network-graph-tcx) echo "network-graph, \`attach=tcx\`" ;; esac; }
# ps ATTACH LOAD PROG JQ: a field of the program statistics.
ps() { jq -r --arg p "$3" ".[\$p] | $4" "$OUT/socket-progstats-$1-$2.json" 2>/dev/null || echo 0; }
load() { cat "$OUT/socket-progstats-$1-$2.load" 2>/dev/null || echo 0; }
# busy ATTACH LOAD: the busy CPU time of the run in ms: all CPUs', or, for
# the UDP flood, the busiest CPU's (its sender's, which runs both ends'
# programs).
busy() {
	local b
	read -r -a b <"$OUT/socket-progstats-$1-$2.busy" 2>/dev/null || b=(0)
	if [[ $2 == udp ]]; then echo "${b[1]:-0}"; else echo "${b[0]:-0}"; fi
}
# modes: the modes the run switched, in the table's order.
modes() { for m in none trivial trivial-socket network-graph network-graph-tcx; do [[ -n $(ch $m .slices) ]] && echo $m; done; }

# The targets' figures: medians over socket.sh's rounds (bench_median,
# bench_beyond print the median, then each round's). rounds ARRAY_NAME
# prints "median of N rounds: a, b, c".
rounds() {
	local -n a=$1
	local each
	each=$(for r in "${a[@]:1}"; do pct "$r"; done | paste -sd, - | sed 's/,/, /g')
	echo "median of $((${#a[@]} > 0 ? ${#a[@]} - 1 : 0)) rounds: $each"
}
read -r -a TCP_ALL < <(bench_median "$FL" "$(bench_sel tcp network-graph)" .sent_ratio; echo)
read -r -a UDP_ALL < <(bench_median "$FL" "$(bench_sel udp network-graph)" .sent_ratio; echo)
read -r -a CH_ALL < <(bench_median "$CH" 'select(.mode == "network-graph")' .ratio; echo)
# network-graph's cost beyond the bare hooks: its ratio over theirs, both
# measured against the same kind of off slices, round by round.
read -r -a UDP_BEYOND_ALL < <(bench_beyond "$FL" "$(bench_sel udp network-graph)" "$(bench_sel udp trivial)" .sent_ratio; echo)
read -r -a CH_BEYOND_ALL < <(bench_beyond "$CH" 'select(.mode == "network-graph")' 'select(.mode == "trivial-socket")' .ratio; echo)
TCP_S=${TCP_ALL[0]:-} UDP_S=${UDP_ALL[0]:-} CH_S=${CH_ALL[0]:-}
UDP_BEYOND=${UDP_BEYOND_ALL[0]:-} CH_BEYOND=${CH_BEYOND_ALL[0]:-}
UDP_T=$(fl udp trivial .sent_ratio)
CH_TS=$(ch trivial-socket .ratio)
ACC_S=$(ch network-graph .accounted)

cat <<MD
## 1b. Counting TCP at the socket: \`attach=socket\` vs \`attach=tcx\` (issue 17)

\`attach=socket\`, the default, counts TCP per connection at its sockets (a program on the kernel's
\`inet_sock_set_state\` tracepoint at each handshake and close, a TCP socket iterator per namespace at each read) and UDP at TCX, whose program
lets TCP packets by at once; \`attach=tcx\` counts every packet at TCX (see
[architecture](architecture.md#where-network-graph-counts-attachsocket-tcx-packet-issue-17)). Both were measured in
one run (\`hack/bench/socket.sh\`, also \`sudo make bench-socket\`), each load in alternate 0.5 s slices of one run
as in section 1: a TCP stream over one connection (\`hack/bench/flood -proto tcp\`, 64 KiB writes, bytes/s sent),
the 64-byte UDP flood (\`hack/bench/flood\`, datagrams/s sent) and connection churn (\`hack/bench/churn\`: connect,
1 byte each way, close, 4 in flight, client and server pinned to a CPU each; connections/s), each with network-graph attached to and detached from both
namespaces in turn, in each mode, and with nothing switched (the control). In socket mode the TCP state program
is attached with the first watched namespace and detached with the last, so the off slices run nothing of
network-graph's: each figure is its whole price.

| load | switched on and off | slices | on / off per second | on/off [range] | target | result |
|---|---|---|---|---|---|---|
MD
for mode in $(modes); do
	target="" res=""
	[[ $mode == network-graph ]] && target="≥ −1 %: $(pct "$TCP_S") ($(rounds TCP_ALL))" && res=$(verdict "$TCP_S" 0.99)
	echo "| TCP stream, bytes/s sent | $(name $mode) | $(fl tcp $mode .slices) | $(fl tcp $mode '(.on_sent_pps / 1e9 * 8 * 100 | floor) / 100') / $(fl tcp $mode '(.off_sent_pps / 1e9 * 8 * 100 | floor) / 100') Gbit/s | $(pct "$(fl tcp $mode .sent_ratio)") [$(range "$(fl tcp $mode '.sent_range[0]')" "$(fl tcp $mode '.sent_range[1]')")] | $target | $res |"
done
for mode in $(modes); do
	target="" res=""
	[[ $mode == network-graph ]] && target="≥ −3 %: $(pct "$CH_S") ($(rounds CH_ALL))" && res=$(verdict "$CH_S" 0.97)
	echo "| TCP churn, connections/s | $(name $mode) | $(ch $mode .slices) | $(ch $mode '.on | floor') / $(ch $mode '.off | floor') | $(pct "$(ch $mode .ratio)") [$(range "$(ch $mode '.range[0]')" "$(ch $mode '.range[1]')")] | $target | $res |"
done
for mode in $(modes); do
	target="" res=""
	[[ $mode == network-graph ]] && target="≥ −4 %: $(pct "$UDP_S") ($(rounds UDP_ALL)); ≥ −2 % beyond the hooks: $(pct "$UDP_BEYOND") ($(rounds UDP_BEYOND_ALL))" &&
		res="$(verdict "$UDP_S" 0.96); $(verdict "$UDP_BEYOND" 0.98)"
	echo "| UDP 64 B flood, datagrams/s sent | $(name $mode) | $(fl udp $mode .slices) | $(fl udp $mode '.on_sent_pps | floor') / $(fl udp $mode '.off_sent_pps | floor') | $(pct "$(fl udp $mode .sent_ratio)") [$(range "$(fl udp $mode '.sent_range[0]')" "$(fl udp $mode '.sent_range[1]')")] | $target | $res |"
done

cat <<MD

**Every connection counted.** Of the connections that ran wholly while network-graph was attached, socket mode
saw $(ch network-graph .whole_on) and counted $(ch network-graph .client_packets) segments on the client's edge and
$(ch network-graph .server_packets) on the server's (at least 4 per connection each: $(ch network-graph 'if .accounted then "all counted" else "**fewer**" end'));
tcx mode $(ch network-graph-tcx .whole_on), $(ch network-graph-tcx .client_packets) and $(ch network-graph-tcx .server_packets)
($(ch network-graph-tcx 'if .accounted then "all counted" else "**fewer**" end')). UDP: socket mode's edge at b counted
$(fl udp network-graph .edge_packets) datagrams, at least the $(fl udp network-graph .counted_on_recv) received while attached
($(fl udp network-graph 'if .accounted then "all accounted for" else "**fewer than received**" end')); tcx mode
$(fl udp network-graph-tcx .edge_packets) of $(fl udp network-graph-tcx .counted_on_recv)
($(fl udp network-graph-tcx 'if .accounted then "all accounted for" else "**fewer than received**" end')).

**Kernel time.** With the kernel's eBPF run-time statistics on (\`hack/bench/tap -mode stats\`), \`gadget run
network-graph\` on both namespaces in each mode, during a 2-second iperf3 TCP stream, a 2-second churn run and a
2-second UDP flood. Trivial programs ran on the same hooks at the same moments (\`hack/bench/tap\`: one that returns
at once, attached at TCX after network-graph's, and one that returns at once on the \`inet_sock_set_state\` tracepoint), so
their ns per run is what the statistics and the hook's entry cost by themselves: "own" is network-graph's ns per
run less theirs (the iterator has no such twin; its figure is whole). "Share" is the programs' run time over the
CPU time the machine spent busy meanwhile (/proc/stat; for the UDP flood, the busiest core's: the sender's,
whose softirq also runs the receiving end's program): whole, then own.

| load | attach | program | runs | ns per run | own ns | per load unit (own) | share of busy CPU, whole / own |
|---|---|---|---|---|---|---|---|
MD
# twin PROG: the trivial program on PROG's hook.
twin() { case $1 in network_graph_tcx) echo gbench_trivial ;; network_graph_tcp_state) echo gbench_tcpstate ;; *) echo "" ;; esac; }
for load in tcp churn udp; do
	for attach in socket tcx; do
		units=$(load $attach $load)
		busy_ms=$(busy $attach $load)
		[[ -s $OUT/socket-progstats-$attach-$load.json ]] || continue
		for prog in network_graph_tcx network_graph_tcp_state network_graph_iter_tcp; do
			runs=$(ps $attach $load $prog .runs)
			[[ $runs == 0 || $runs == null ]] && continue
			ns=$(ps $attach $load $prog .ns_per_run)
			tw=$(twin $prog)
			tns=0
			[[ -n $tw ]] && tns=$(ps $attach $load $tw .ns_per_run)
			[[ $tns == null ]] && tns=0
			own=$(awk -v a="$ns" -v b="$tns" 'BEGIN { d = a - b; if (d < 0) d = 0; print d }')
			ms=$(ps $attach $load $prog .runtime_ms)
			own_ms=$(awk -v r="$runs" -v o="$own" 'BEGIN { print r * o / 1e6 }')
			case $load in
			tcp)
				per=$(awk -v ms="$own_ms" -v u="$units" 'BEGIN { if (u > 0) printf "%.2f µs per MB\n", ms * 1000 / (u / 1e6); else print "n/a" }')
				what="TCP stream ($(awk -v u="$units" 'BEGIN {printf "%.1f GB", u / 1e9}'))"
				;;
			churn)
				per=$(awk -v ms="$own_ms" -v u="$units" 'BEGIN { if (u > 0) printf "%.2f µs per connection\n", ms * 1000 / u; else print "n/a" }')
				what="churn ($units connections)"
				;;
			udp)
				per=$(awk -v ms="$own_ms" -v u="$units" 'BEGIN { if (u > 0) printf "%.0f ns per datagram\n", ms * 1e6 / u; else print "n/a" }')
				what="UDP flood ($units datagrams)"
				;;
			esac
			share=$(awk -v w="$ms" -v o="$own_ms" -v b="$busy_ms" 'BEGIN { if (b > 0) printf "%.2f / %.2f %%\n", w * 100 / b, o * 100 / b; else print "n/a" }')
			echo "| $what | $attach | \`$prog\` | $runs | $(awk -v v="$ns" 'BEGIN {printf "%.0f", v}') | $(awk -v v="$own" 'BEGIN {printf "%.0f", v}') | $per | $share |"
		done
		read -r whole own < <(bench_progshare "$OUT" $attach $load $([[ $load == udp ]] && echo busiest))
		echo "| | $attach | all | | | | | **$(awk -v w="$whole" -v o="$own" 'BEGIN { if (w == "n/a") print "n/a"; else printf "%.2f / %.2f %%", w, o }')** of $(awk -v b="$busy_ms" 'BEGIN {printf "%.0f", b}') ms busy |"
	done
done
cat <<MD

In socket mode the TCX program still runs on every TCP packet, but leaves at once: on the TCP stream its ns per
run is the hook's price plus a few instructions (own: near 0), against the whole per-packet accounting in tcx mode.
The TCP state program runs at every state change of every TCP socket of the node (about 10 per connection, both
ends), most of them two compares; its own work is at the close of a watched connection (and at the handshake while a namespace awaits its first walk). (Its
first form, a \`sock_ops\` program on the cgroup v2 root, ran at about 16 callbacks per connection, timeout and
window setup besides the state changes, and recorded every connection at its handshake: see
[architecture](architecture.md#where-network-graph-counts-attachsocket-tcx-packet-issue-17), "What it costs".) The iterator visits every TCP socket of a watched
namespace at every read, time-wait ones included (the churn server's).
MD

read -r PS_TCP_W PS_TCP_O < <(bench_progshare "$OUT" socket tcp)
read -r PS_CHS_W PS_CHS_O < <(bench_progshare "$OUT" socket churn)
read -r PS_CHT_W PS_CHT_O < <(bench_progshare "$OUT" tcx churn)
read -r PS_UDP_W PS_UDP_O < <(bench_progshare "$OUT" socket udp busiest)
p2() { awk -v v="$1" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf "%.2f %%\n", v }'; }
cat <<MD

**Reading the figures.** The hooks alone — a TCX program that returns at once, on the same interfaces — changed
the UDP flood by $(pct "$UDP_T") and churn by $(pct "$(ch trivial .ratio)") in this run: every program run passes
through this CPU's Spectre mitigations, so on this machine the hooks take much of what the targets allow before
network-graph does anything. Beyond them, network-graph's cost on the UDP flood is $(pct "$UDP_BEYOND") (its
on/off ratio over the trivial program's, each round a run of each in turn, $(rounds UDP_BEYOND_ALL)); on churn, beyond socket mode's bare hooks (the TCX ones and the TCP state
tracepoint: $(pct "$CH_TS") in the first round), $(pct "$CH_BEYOND") ($(rounds CH_BEYOND_ALL)). On churn the control, with nothing switched, moved
$(pct "$(ch none .ratio)"), single slices from $(range "$(ch none '.range[0]')" "$(ch none '.range[1]')"). The kernel's own accounting: on churn,
network-graph's programs took $(p2 "$PS_CHS_O") of the busy CPU time in socket mode and $(p2 "$PS_CHT_O") in tcx
mode beyond their hooks' price ($(p2 "$PS_CHS_W") and $(p2 "$PS_CHT_W") with it, as the statistics time them); on
the TCP stream $(p2 "$PS_TCP_O") in socket mode ($(p2 "$PS_TCP_W")); on the UDP flood $(p2 "$PS_UDP_O") of the
sender's core ($(p2 "$PS_UDP_W")).
MD
