package main

import (
	"io"
	"strings"
	"testing"
)

func TestDebugBindAddress(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr string
	}{
		{addr: ""},
		{addr: "0"},
		{addr: "127.0.0.1:9443"},
		{addr: "[::1]:9443"},
		{addr: "localhost:9443"},
		{addr: ":9443", wantErr: "use a loopback address"},
		{addr: "10.0.0.1:9443", wantErr: "use a loopback address"},
		{addr: "127.0.0.1", wantErr: "want HOST:PORT on loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			o, err := parseFlags([]string{"--node-name", "n", "--debug-bind-address", tt.addr}, func(string) string { return "" }, io.Discard, io.Discard)
			if tt.wantErr == "" {
				if err != nil || o.debugAddr != tt.addr {
					t.Fatalf("--debug-bind-address %q: %v, debugAddr %q", tt.addr, err, o.debugAddr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != 2 {
				t.Fatalf("--debug-bind-address %q: err %v, want a usage error containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}
