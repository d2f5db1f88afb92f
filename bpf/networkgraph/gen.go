// Package networkgraph holds the eBPF side of the network-graph gadget: the
// socket filter that counts TCP connections and UDP streams per watched
// network namespace, and its loader.
//
// The C source is networkgraph.bpf.c; bpf2go compiles it into the
// committed networkgraph_bpfel.{go,o}. Regenerate with `make generate-bpf`.
package networkgraph

//go:generate go tool bpf2go -cc clang -cflags "-O2 -mcpu=v3 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type edge_key -type edge_value -type flow_key -type stat -type conn -type watch networkgraph networkgraph.bpf.c -- -I../include
