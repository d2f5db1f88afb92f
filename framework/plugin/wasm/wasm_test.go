package wasm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// guests are the test guests, built once by TestMain.
var guests struct{ faulty, formatter, enricher, cache string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasm-host-test")
	if err != nil {
		panic(err)
	}
	// wazero's compilation cache is keyed by the module's content and
	// kept across runs: compiling a Go guest takes seconds on a busy
	// machine.
	guests.cache = filepath.Join(dir, "cache")
	if c, err := os.UserCacheDir(); err == nil {
		guests.cache = filepath.Join(c, "gadget-test", "wazero")
	}
	root, err := moduleRoot()
	if err == nil {
		for _, g := range []struct {
			pkg  string
			path *string
		}{
			{"./plugins/conformance/faulty", &guests.faulty},
			{"./plugins/conformance/formatter", &guests.formatter},
			{"./plugins/conformance/enricher", &guests.enricher},
		} {
			*g.path = filepath.Join(dir, filepath.Base(g.pkg)+".wasm")
			if err = plugintest.GoBuildWasm(root, g.pkg, *g.path); err != nil {
				break
			}
		}
	}
	code := 1
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

func newHost(t *testing.T, opts wasm.Options) *wasm.Host {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = guests.cache
	}
	h, err := wasm.NewHost(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// TestFaults checks that every fault fails only its batch, with one line
// naming the plugin and the batch, and that the next call works.
func TestFaults(t *testing.T) {
	h := newHost(t, wasm.Options{
		CallTimeout:      500 * time.Millisecond,
		MemoryLimitPages: 1024, // 64 MiB
		MaxResultBytes:   1 << 20,
	})
	ctx := context.Background()
	f, err := h.OpenFormatter(ctx, guests.faulty)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		mode string
		size string
		want string
	}{
		{mode: "panic", want: "panic: faulty plugin: asked to panic"},
		{mode: "loop", want: "timed out"},
		{mode: "oom", want: "out of memory"},
		{mode: "garbage", want: "garbage result: not a JSON response"},
		{mode: "outside", want: "outside the module's memory"},
		{mode: "oversized", size: "2000000", want: "oversized result"},
		{mode: "exit", want: "exited with code 3"},
	}
	for i, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			seq := uint64(100 + i)
			start := time.Now()
			_, err := f.Format(ctx, plugin.Batch{Gadget: "g", Sequence: seq, Events: []byte("[]")},
				map[string]string{"mode": tt.mode, "size": tt.size})
			if !errors.Is(err, plugin.ErrPluginFailed) {
				t.Fatalf("error = %v, want plugin.ErrPluginFailed", err)
			}
			msg := err.Error()
			for _, want := range []string{`"faulty"`, "batch " + strconv.FormatUint(seq, 10), tt.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q is more than one line", msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the failed call took %v", d)
			}
			got, err := f.Format(ctx, plugin.Batch{Gadget: "g", Sequence: seq + 1, Events: []byte("[]")}, nil)
			if err != nil || string(got.Data) != "ok\n" {
				t.Errorf("next call = %q, %v; want ok", got.Data, err)
			}
		})
	}
}

// TestSandbox checks that a guest sees no file system, no environment, no
// arguments and a fake clock.
func TestSandbox(t *testing.T) {
	t.Setenv("GADGET_SECRET", "x")
	h := newHost(t, wasm.Options{})
	f, err := h.OpenFormatter(context.Background(), guests.faulty)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Format(context.Background(), plugin.Batch{Sequence: 1, Events: []byte("[]")}, map[string]string{"mode": "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	// wazero's fake wall clock starts in 2022; only GrantClock gives the
	// real one.
	want := "file=true dir=true env=0 args=0 year=2022\n"
	if string(got.Data) != want {
		t.Errorf("sandbox = %q, want %q", got.Data, want)
	}
}

func TestOpenErrors(t *testing.T) {
	h := newHost(t, wasm.Options{})
	ctx := context.Background()
	notWasm := filepath.Join(t.TempDir(), "x.wasm")
	if err := os.WriteFile(notWasm, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		open func() error
		want error
	}{
		{"missing file", func() error { _, err := h.OpenFormatter(ctx, "/nonexistent/x.wasm"); return err }, plugin.ErrNotFound},
		{"not wasm", func() error { _, err := h.OpenFormatter(ctx, notWasm); return err }, plugin.ErrIncompatible},
		{"enricher as formatter", func() error { _, err := h.OpenFormatter(ctx, guests.enricher); return err }, plugin.ErrIncompatible},
		{"formatter as enricher", func() error { _, err := h.OpenEnricher(ctx, guests.formatter); return err }, plugin.ErrIncompatible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.open(); !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
}
