package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// BenchmarkFormat10k formats a graph of 10,000 edges natively, the
// baseline of the same code run as WASM.
func BenchmarkFormat10k(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 10_000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"pod":"pod-%d","pktType":"OUTGOING","proto":"tcp","ip":"10.0.%d.%d","port":%d}`, i%50, i>>8, i&255, 1024+i%400)
	}
	sb.WriteByte(']')
	req := abi.Request{ContractVersion: abi.ContractVersion, Batch: []byte(sb.String())}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := format(req); err != nil {
			b.Fatal(err)
		}
	}
}
