// Command wasmloop times one tight WebAssembly loop under several wazero
// runtime configurations, to tell which setting makes a WASM plugin slow
// (hack/bench/pipeline.sh runs it once; docs/benchmarks.md reports it):
//
//	wasmloop -n 50000000
//
// It prints one JSON object: milliseconds per configuration.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tetratelabs/wazero"
)

// loop is a hand-assembled module exporting run(n i32) i32, which counts n
// down to zero in a loop and returns 0.
var loop = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
	0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, // type: (i32) -> i32
	0x03, 0x02, 0x01, 0x00, // function 0 has type 0
	0x07, 0x07, 0x01, 0x03, 'r', 'u', 'n', 0x00, 0x00, // export "run"
	0x0a, 0x12, 0x01, 0x10, 0x00, // code: one body of 16 bytes, no locals
	0x03, 0x40, // loop
	0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, // local.get 0; i32.const 1; i32.sub; local.tee 0
	0x0d, 0x00, 0x0b, // br_if 0; end
	0x20, 0x00, 0x0b, // local.get 0; end
}

func main() {
	n := flag.Int("n", 50_000_000, "loop iterations")
	flag.Parse()
	ctx := context.Background()
	configs := []struct {
		name string
		cfg  wazero.RuntimeConfig
	}{
		{"NewRuntimeConfig()", wazero.NewRuntimeConfig()},
		{"NewRuntimeConfig().WithCloseOnContextDone(true)", wazero.NewRuntimeConfig().WithCloseOnContextDone(true)},
		{"NewRuntimeConfig().WithMemoryLimitPages(256).WithMemoryCapacityFromMax(true)", wazero.NewRuntimeConfig().WithMemoryLimitPages(256).WithMemoryCapacityFromMax(true)},
		{"NewRuntimeConfigInterpreter()", wazero.NewRuntimeConfigInterpreter()},
	}
	out := map[string]float64{}
	for _, c := range configs {
		d, err := run(ctx, c.cfg, uint64(*n))
		if err != nil {
			fmt.Fprintf(os.Stderr, "wasmloop: %s: %v\n", c.name, err)
			os.Exit(1)
		}
		out[c.name] = float64(d.Microseconds()) / 1000
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "wasmloop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg wazero.RuntimeConfig, n uint64) (time.Duration, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	m, err := rt.Instantiate(ctx, loop)
	if err != nil {
		return 0, fmt.Errorf("instantiate: %w", err)
	}
	t0 := time.Now()
	if _, err := m.ExportedFunction("run").Call(ctx, n); err != nil {
		return 0, fmt.Errorf("call: %w", err)
	}
	return time.Since(t0), nil
}
