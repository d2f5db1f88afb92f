#!/usr/bin/env bash
# Prints the benchmarks section of network-graph's attach modes side by
# side (issue 17) from what hack/bench/socket.sh wrote in OUTDIR:
#
#   hack/bench/socket-section.sh OUTDIR
#
# report.sh puts it into docs/benchmarks.md; 'make bench-socket' prints it.
set -euo pipefail
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
name() { case $1 in none) echo "nothing (control)" ;; network-graph) echo "network-graph, \`attach=socket\` (default)" ;; network-graph-tcx) echo "network-graph, \`attach=tcx\`" ;; esac; }
# ps ATTACH LOAD PROG JQ: a field of the program statistics.
ps() { jq -r --arg p "$3" ".[\$p] | $4" "$OUT/socket-progstats-$1-$2.json" 2>/dev/null || echo 0; }
load() { cat "$OUT/socket-progstats-$1-$2.load" 2>/dev/null || echo 0; }

TCP_S=$(fl tcp network-graph .sent_ratio)
UDP_S=$(fl udp network-graph .sent_ratio)
CH_S=$(ch network-graph .ratio)
ACC_S=$(ch network-graph .accounted)

cat <<MD
## 1b. Counting TCP at the socket: \`attach=socket\` vs \`attach=tcx\` (issue 17)

\`attach=socket\`, the default, counts TCP per connection at its sockets (a \`sock_ops\` program on the cgroup v2
root at each handshake and close, a TCP socket iterator per namespace at each read) and UDP at TCX, whose program
lets TCP packets by at once; \`attach=tcx\` counts every packet at TCX (see
[architecture](architecture.md#where-network-graph-counts-attachsocket-tcx-packet-issue-17)). Both were measured in
one run (\`hack/bench/socket.sh\`, also \`sudo make bench-socket\`), each load in alternate 0.5 s slices of one run
as in section 1: a TCP stream over one connection (\`hack/bench/flood -proto tcp\`, 64 KiB writes, bytes/s sent),
the 64-byte UDP flood (\`hack/bench/flood\`, datagrams/s sent) and connection churn (\`hack/bench/churn\`: connect,
1 byte each way, close, 4 in flight; connections/s), each with network-graph attached to and detached from both
namespaces in turn, in each mode, and with nothing switched (the control). In socket mode the \`sock_ops\` program
stays attached for the whole run (it is the trace's, not a namespace's): in the off slices it still runs at each
handshake and close, finding the namespace unwatched, so the churn figure leaves that lookup out; the program
statistics below count it.

| load | switched on and off | slices | on / off per second | on/off [range] | target | result |
|---|---|---|---|---|---|---|
MD
for mode in none network-graph network-graph-tcx; do
	target="" res=""
	[[ $mode == network-graph ]] && target="≥ −1 %" && res=$(verdict "$TCP_S" 0.99)
	echo "| TCP stream, bytes/s sent | $(name $mode) | $(fl tcp $mode .slices) | $(fl tcp $mode '(.on_sent_pps / 1e9 * 8 * 100 | floor) / 100') / $(fl tcp $mode '(.off_sent_pps / 1e9 * 8 * 100 | floor) / 100') Gbit/s | $(pct "$(fl tcp $mode .sent_ratio)") [$(range "$(fl tcp $mode '.sent_range[0]')" "$(fl tcp $mode '.sent_range[1]')")] | $target | $res |"
done
for mode in none network-graph network-graph-tcx; do
	target="" res=""
	[[ $mode == network-graph ]] && target="≥ −3 %" && res=$(verdict "$CH_S" 0.97)
	echo "| TCP churn, connections/s | $(name $mode) | $(ch $mode .slices) | $(ch $mode '.on | floor') / $(ch $mode '.off | floor') | $(pct "$(ch $mode .ratio)") [$(range "$(ch $mode '.range[0]')" "$(ch $mode '.range[1]')")] | $target | $res |"
done
for mode in none network-graph network-graph-tcx; do
	target="" res=""
	[[ $mode == network-graph ]] && target="≥ −4 %" && res=$(verdict "$UDP_S" 0.96)
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
network-graph\` on both namespaces in each mode, during a 2-second iperf3 TCP stream and a 2-second churn run:

| load | attach | program | runs | ns per run | total ms | per load unit |
|---|---|---|---|---|---|---|
MD
for load in tcp churn; do
	for attach in socket tcx; do
		units=$(load $attach $load)
		for prog in network_graph_tcx network_graph_sockops network_graph_iter_tcp; do
			runs=$(ps $attach $load $prog .runs)
			[[ $runs == 0 || $runs == null ]] && continue
			ms=$(ps $attach $load $prog .runtime_ms)
			if [[ $load == tcp ]]; then
				per=$(awk -v ms="$ms" -v u="$units" 'BEGIN { if (u > 0) printf "%.2f µs per MB\n", ms * 1000 / (u / 1e6); else print "n/a" }')
				what="TCP stream ($(awk -v u="$units" 'BEGIN {printf "%.1f GB", u / 1e9}'))"
			else
				per=$(awk -v ms="$ms" -v u="$units" 'BEGIN { if (u > 0) printf "%.2f µs per connection\n", ms * 1000 / u; else print "n/a" }')
				what="churn ($units connections)"
			fi
			echo "| $what | $attach | \`$prog\` | $runs | $(awk -v v="$(ps $attach $load $prog .ns_per_run)" 'BEGIN {printf "%.0f", v}') | $ms | $per |"
		done
	done
done
cat <<MD

In socket mode the TCX program still runs on every TCP packet, but leaves at once: its ns per run on the TCP
stream is the hook's price plus a few instructions, against the whole per-packet accounting in tcx mode. The
\`sock_ops\` program runs at every callback of every TCP socket of the node (about 16 per connection, both ends:
timeout and window setup, handshake, state changes), most of them a switch on the operation and one hash lookup;
the iterator visits every TCP socket of a watched namespace at every read, time-wait ones included (the churn
server's), about 40 ns each.
MD
