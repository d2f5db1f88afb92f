// Package dns holds the eBPF side of the dns gadget: the socket filter that
// copies the DNS packets of each watched network namespace into a ring
// buffer, and its loader.
//
// The C source is dns.bpf.c; bpf2go compiles it into the committed
// dns_bpfel.{go,o}. Regenerate with `make generate-bpf`.
package dns

//go:generate go tool bpf2go -cc clang -cflags "-O2 -mcpu=v3 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type dns_event -type dns_stat dns dns.bpf.c -- -I../include
