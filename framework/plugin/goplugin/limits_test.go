package goplugin

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
)

// TestLimits checks that a plugin process past its memory cap or CPU
// bound fails the batch with one line naming the plugin and the limit,
// and that the next call gets a fresh process.
func TestLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("spins a process for seconds")
	}
	for _, tc := range []struct {
		mode string
		opts Options
		want string
	}{
		{"alloc", Options{MemoryLimit: 256 << 20}, "plugin process exceeded its memory limit of 256MiB (raise it with --plugin-memory)"},
		{"spin", Options{CPULimit: time.Second, CallTimeout: time.Minute}, "plugin process exceeded its CPU time limit of 1s"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			f := openFormatter(t, faultyPlugin, tc.opts)
			_, err := f.Format(t.Context(), plugin.Batch{Sequence: 4, Events: []byte(`[]`)}, map[string]string{"mode": tc.mode})
			if !errors.Is(err, plugin.ErrPluginFailed) {
				t.Fatalf("err = %v, want ErrPluginFailed", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("err is several lines: %q", msg)
			}
			for _, want := range []string{`go-plugin "faulty"`, "batch 4", tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("err = %q, want it to contain %q", msg, want)
				}
			}
			out, err := f.Format(t.Context(), plugin.Batch{Sequence: 5, Events: []byte(`[1]`)}, nil)
			if err != nil || string(out.Data) != "[1]" {
				t.Errorf("next call = %q, %v; want the batch echoed by a fresh process", out.Data, err)
			}
		})
	}
}

// TestNoHandshake checks the error of an executable that exits at once
// instead of serving: one line naming the mistake, its stderr and the fix.
func TestNoHandshake(t *testing.T) {
	exe := filepath.Join(execDir(t), "quitter")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho 'usage: quitter FILE' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFormatter(t.Context(), exe, Options{})
	if !errors.Is(err, plugin.ErrPluginFailed) {
		t.Fatalf("err = %v, want ErrPluginFailed", err)
	}
	want := "go-plugin " + exe + `: start: plugin failed: the process exited (exit status 1) before go-plugin's handshake; its stderr: "usage: quitter FILE"; is it a gadget plugin? Its main must call goplugin.Serve (plugins/sdk/goplugin) and print nothing to stdout before`
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
}
