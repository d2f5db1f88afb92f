package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDebugHandler checks the profiles make soak reads: the goroutines,
// and the heap after a GC.
func TestDebugHandler(t *testing.T) {
	srv := httptest.NewServer(debugHandler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/debug/pprof/goroutine?debug=1": "goroutine profile: total ",
		"/debug/pprof/heap?gc=1&debug=1": "heap profile: ",
		"/debug/pprof/":                  "Types of profiles available",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %s, body lacks %q:\n%.300s", path, resp.Status, want, b)
		}
	}
}

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
