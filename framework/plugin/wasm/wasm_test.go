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

// openFaulty opens the faulty test formatter on a host with opts; the
// test closes it at its end.
func openFaulty(t *testing.T, opts wasm.Options) plugin.Formatter {
	t.Helper()
	f, err := newHost(t, opts).OpenFormatter(context.Background(), guests.faulty)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// TestFaults checks that every fault fails only its batch, with one line
// naming the plugin and the batch, and that the next call works.
func TestFaults(t *testing.T) {
	f := openFaulty(t, wasm.Options{
		CallTimeout:      500 * time.Millisecond,
		MemoryLimitPages: 1024, // 64 MiB
		MaxResultBytes:   1 << 20,
	})
	ctx := context.Background()
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

// TestResponses checks the forms of a formatter's response the host
// accepts: JSON and raw (docs/plugins.md), and that it offers the raw
// form to formatters.
func TestResponses(t *testing.T) {
	f := openFaulty(t, wasm.Options{MaxResultBytes: 1 << 20})
	ctx := context.Background()
	tests := []struct {
		name    string
		params  map[string]string
		want    string
		wantErr string
	}{
		{name: "json", params: nil, want: "ok\n"},
		{name: "raw", params: map[string]string{"mode": "raw", "data": "a\x00b\n{\"data\":\"\"}"}, want: "a\x00b\n{\"data\":\"\"}"},
		{name: "raw, empty output", params: map[string]string{"mode": "raw"}, want: ""},
		{name: "raw, limit", params: map[string]string{"mode": "raw-oversized", "size": strconv.Itoa(1<<20 - 1)}, want: strings.Repeat("\x00", 1<<20-1)},
		{name: "raw, oversized", params: map[string]string{"mode": "raw-oversized", "size": strconv.Itoa(1 << 20)}, wantErr: "oversized result: 1048577 bytes"},
		{name: "no bytes", params: map[string]string{"mode": "empty"}, wantErr: "garbage result: an empty response"},
		{name: "rawData offered", params: map[string]string{"mode": "rawdata"}, want: "rawData=true\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Format(ctx, plugin.Batch{Gadget: "g", Sequence: uint64(i + 1), Events: []byte("[]")}, tt.params)
			if tt.wantErr != "" {
				if !errors.Is(err, plugin.ErrPluginFailed) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want plugin.ErrPluginFailed saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Data) != tt.want || got.Data == nil {
				t.Errorf("data = %q (nil: %t), want %q", clip(got.Data), got.Data == nil, clip([]byte(tt.want)))
			}
			if got.MediaType != "text/plain" {
				t.Errorf("media type = %q, want the manifest's text/plain", got.MediaType)
			}
		})
	}
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
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

// spinningModule is a module of the raw ABI whose start function loops
// forever: run by the start section (start) or exported as _initialize.
func spinningModule(start bool) []byte {
	sec := func(id byte, body ...byte) []byte {
		return append([]byte{id, byte(len(body))}, body...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, sec(1, 4, 0x60, 0, 0, 0x60, 0, 1, 0x7e, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7e)...)
	m = append(m, sec(3, 4, 0, 1, 2, 3)...)
	m = append(m, sec(5, 1, 0, 1)...)
	var exports []byte
	n := byte(4)
	for _, e := range []struct {
		name      string
		kind, idx byte
	}{{"memory", 2, 0}, {"gadget_manifest", 0, 1}, {"gadget_alloc", 0, 2}, {"gadget_call", 0, 3}} {
		exports = append(append(exports, name(e.name)...), e.kind, e.idx)
	}
	if !start {
		exports = append(append(exports, name("_initialize")...), 0, 0)
		n++
	}
	m = append(m, sec(7, append([]byte{n}, exports...)...)...)
	if start {
		m = append(m, sec(8, 0)...)
	}
	spin := []byte{0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b}
	ret0 := func(op byte) []byte { return []byte{0, op, 0, 0x0b} }
	code := []byte{4}
	for _, f := range [][]byte{spin, ret0(0x42), ret0(0x41), ret0(0x42)} {
		code = append(append(code, byte(len(f))), f...)
	}
	return append(m, sec(10, code...)...)
}

// TestStartStopsAtDeadline checks that a module whose start function or
// initialiser never returns fails to open at the deadline.
func TestStartStopsAtDeadline(t *testing.T) {
	h := newHost(t, wasm.Options{CallTimeout: 300 * time.Millisecond})
	for _, start := range []bool{true, false} {
		name := map[bool]string{true: "start section", false: "_initialize"}[start]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spin.wasm")
			if err := os.WriteFile(path, spinningModule(start), 0o644); err != nil {
				t.Fatal(err)
			}
			begin := time.Now()
			_, err := h.OpenFormatter(context.Background(), path)
			if !errors.Is(err, plugin.ErrPluginFailed) || !strings.Contains(err.Error(), "timed out") {
				t.Fatalf("OpenFormatter = %v, want plugin.ErrPluginFailed and a timeout", err)
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Errorf("the start ran %v past a 300ms deadline", took)
			}
		})
	}
}

// TestCancel checks that cancelling a call's context stops a running
// guest, with an error that says so.
func TestCancel(t *testing.T) {
	h := newHost(t, wasm.Options{})
	f, err := h.OpenFormatter(context.Background(), guests.faulty)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(100*time.Millisecond, cancel)
	defer timer.Stop()
	_, err = f.Format(ctx, plugin.Batch{Sequence: 1, Events: []byte("[]")}, map[string]string{"mode": "loop"})
	if !errors.Is(err, plugin.ErrPluginFailed) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("Format(loop) = %v, want plugin.ErrPluginFailed, cancelled", err)
	}
	got, err := f.Format(context.Background(), plugin.Batch{Sequence: 2, Events: []byte("[]")}, nil)
	if err != nil || string(got.Data) != "ok\n" {
		t.Errorf("next call = %q, %v; want ok", got.Data, err)
	}
}
