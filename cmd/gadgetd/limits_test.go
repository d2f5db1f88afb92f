package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimitFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(l limits) bool
		wantErr string
	}{
		{name: "defaults", check: func(l limits) bool {
			return l.streamBytes.Value() == 8<<20 && l.streamMaxReaders == 64 && l.streamWriteTimeout == 30*time.Second &&
				l.kernelMemoryBudget == "auto" && l.maxTraces == 64
		}},
		{name: "set", args: []string{"--stream-bytes", "1Mi", "--stream-max-readers", "3", "--stream-write-timeout", "5s",
			"--kernel-memory-budget", "256Mi", "--max-traces", "10"}, check: func(l limits) bool {
			n, auto, err := l.parseBudget()
			return l.streamBytes.Value() == 1<<20 && l.streamMaxReaders == 3 && l.streamWriteTimeout == 5*time.Second &&
				n == 256<<20 && !auto && err == nil && l.maxTraces == 10
		}},
		{name: "no budget", args: []string{"--kernel-memory-budget", "0"}, check: func(l limits) bool {
			n, auto, err := l.parseBudget()
			return n == 0 && !auto && err == nil
		}},
		{name: "tiny stream", args: []string{"--stream-bytes", "1Ki"}, wantErr: "want a size from 64Ki to 1Gi"},
		{name: "bad budget", args: []string{"--kernel-memory-budget", "lots"}, wantErr: `--kernel-memory-budget "lots": want auto, 0`},
		{name: "no readers", args: []string{"--stream-max-readers", "0"}, wantErr: "--stream-max-readers 0"},
		{name: "no traces", args: []string{"--max-traces", "0"}, wantErr: "--max-traces 0"},
		{name: "short timeout", args: []string{"--stream-write-timeout", "10ms"}, wantErr: "--stream-write-timeout 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"--node-name", "n"}, tt.args...), func(string) string { return "" }, io.Discard, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != 2 {
					t.Fatalf("err = %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o.limits) {
				t.Errorf("limits = %+v", o.limits)
			}
		})
	}
}

func TestKernelBudget(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	read := func(n uint64, ok bool, err error) func() (uint64, bool, error) {
		return func() (uint64, bool, error) { return n, ok, err }
	}
	tests := []struct {
		flag    string
		read    func() (uint64, bool, error)
		want    uint64
		wantErr bool
	}{
		{"auto", read(512<<20, true, nil), 256 << 20, false},
		{"auto", read(0, false, nil), unlimitedBudget, false},
		{"auto", read(0, false, errors.New("no cgroup")), 0, true},
		{"100Mi", read(512<<20, true, nil), 100 << 20, false},
		{"0", read(512<<20, true, nil), 0, false},
	}
	for _, tt := range tests {
		l := limits{kernelMemoryBudget: tt.flag}
		got, err := l.kernelBudget(log, tt.read)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("--kernel-memory-budget %s: %d, %v; want %d, error %v", tt.flag, got, err, tt.want, tt.wantErr)
		}
	}
}
