package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/internal/version"
)

func TestParseFlags(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	certDir := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string
	}{
		{name: "node from the environment", env: map[string]string{"NODE_NAME": "w1", "KUBECONFIG": "/k"},
			want: options{nodeName: "w1", kubeconfig: "/k", metricsAddr: "127.0.0.1:9442", healthAddr: ":9441", streamAddr: ":7070", kubeEnrich: true, logLevel: slog.LevelInfo,
				scopePolicy: true, heartbeatInterval: 30 * time.Second, metrics: metricsOptions{trafficLimit: 10000}}},
		{name: "flags win", env: map[string]string{"NODE_NAME": "w1"},
			args: []string{"--node-name", "w2", "--kubeconfig", "/c", "--metrics-bind-address", "0",
				"--health-probe-bind-address", "127.0.0.1:9", "--log-level", "debug", "--stream-bind-address", "0", "--kube-enrich=false",
				"--require-scope-policy=false", "--heartbeat-interval", "5s", "--checkpoint-dir", "/var/lib/ckpt",
				"--traffic-metrics", "--traffic-metrics-limit", "5"},
			want: options{nodeName: "w2", kubeconfig: "/c", metricsAddr: "0", healthAddr: "127.0.0.1:9", streamAddr: "0", logLevel: slog.LevelDebug,
				heartbeatInterval: 5 * time.Second, checkpointDir: "/var/lib/ckpt", metrics: metricsOptions{traffic: true, trafficLimit: 5}}},
		{name: "no traffic edges", args: []string{"--node-name", "n", "--traffic-metrics-limit", "0"}, wantErr: "--traffic-metrics-limit 0: must be at least 1"},
		{name: "sub-second heartbeat", args: []string{"--node-name", "n", "--heartbeat-interval", "1500ms"}, wantErr: "--heartbeat-interval 1.5s: use whole seconds"},
		{name: "privileged plugins", args: []string{"--node-name", "n", "--plugin-privileged", "csv", "--plugin-privileged", "net"},
			want: options{nodeName: "n", metricsAddr: "127.0.0.1:9442", healthAddr: ":9441", streamAddr: ":7070", kubeEnrich: true, logLevel: slog.LevelInfo,
				scopePolicy: true, heartbeatInterval: 30 * time.Second, privileged: []string{"csv", "net"}, metrics: metricsOptions{trafficLimit: 10000}}},
		{name: "privileged plugin path", args: []string{"--node-name", "n", "--plugin-privileged", "/bin/sh"}, wantErr: `want the file name of a go-plugin in --plugin-dir`},
		{name: "secure metrics", args: []string{"--node-name", "n", "--metrics-bind-address", ":9442", "--metrics-secure", "--metrics-cert-dir", certDir},
			want: options{nodeName: "n", metricsAddr: ":9442", healthAddr: ":9441", streamAddr: ":7070", kubeEnrich: true, logLevel: slog.LevelInfo,
				scopePolicy: true, heartbeatInterval: 30 * time.Second, metrics: metricsOptions{trafficLimit: 10000, secure: true, certDir: certDir}}},
		{name: "open metrics", args: []string{"--node-name", "n", "--metrics-bind-address", ":9442"}, wantErr: `--metrics-bind-address ":9442": without --metrics-secure the endpoint is unauthenticated`},
		{name: "open metrics on an address", args: []string{"--node-name", "n", "--metrics-bind-address", "10.0.0.1:9442"}, wantErr: "add --metrics-secure"},
		{name: "metrics address", args: []string{"--node-name", "n", "--metrics-bind-address", "9442"}, wantErr: `--metrics-bind-address "9442": want HOST:PORT`},
		{name: "secure without endpoint", args: []string{"--node-name", "n", "--metrics-bind-address", "0", "--metrics-secure"}, wantErr: "--metrics-bind-address is 0"},
		{name: "cert without secure", args: []string{"--node-name", "n", "--metrics-cert-dir", certDir}, wantErr: "add --metrics-secure"},
		{name: "cert dir without key", args: []string{"--node-name", "n", "--metrics-secure", "--metrics-cert-dir", t.TempDir()}, wantErr: "needs tls.crt and tls.key"},
		{name: "no node", wantErr: "--node-name is empty"},
		{name: "bad level", args: []string{"--node-name", "n", "--log-level", "loud"}, wantErr: `--log-level "loud"`},
		{name: "offset level", args: []string{"--node-name", "n", "--log-level", "info+2"}, wantErr: `--log-level "info+2"`},
		{name: "argument", args: []string{"--node-name", "n", "extra"}, wantErr: `unexpected argument "extra"`},
		{name: "unknown flag", args: []string{"--nodename", "n"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, env(tt.env), io.Discard, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if code := exitCode(err); code != 2 {
					t.Errorf("exit code %d, want 2 for a usage error", code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.limits = limits{} // TestLimitFlags
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options = %+v, want %+v", got, tt.want)
			}
		})
	}
	_, err := parseFlags([]string{"--help"}, env(nil), io.Discard, io.Discard)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err) != 0 {
		t.Errorf("--help: err %v, exit code %d; want flag.ErrHelp and 0", err, exitCode(err))
	}
}

func TestVersionFlag(t *testing.T) {
	defer func(v string) { version.Version = v }(version.Version)
	version.Version = "v0.6.0-1-gabcdef0"
	var out bytes.Buffer
	// --version needs no node name.
	_, err := parseFlags([]string{"--version"}, func(string) string { return "" }, &out, io.Discard)
	if !errors.Is(err, errVersion) || exitCode(err) != 0 || out.String() != "gadgetd v0.6.0-1-gabcdef0\n" {
		t.Errorf("--version: err %v, exit code %d, output %q", err, exitCode(err), out.String())
	}
}
