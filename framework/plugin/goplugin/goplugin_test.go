package goplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
)

// Plugin binaries built once by TestMain.
var (
	csvPlugin    string
	faultyPlugin string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "goplugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Plugins run as nobody when the tests run as root: it must reach them.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	csvPlugin = filepath.Join(dir, "csv")
	faultyPlugin = filepath.Join(dir, "faulty")
	for bin, pkg := range map[string]string{csvPlugin: "../../../plugins/csv", faultyPlugin: "./testdata/faulty"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

const smallBatch = `[
 {"node":"n1","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.2","port":5432,"remoteKind":"pod","remotePodNamespace":"db","remotePodName":"pg-0","packets":3,"bytes":180},
 {"type":"warn","node":"n1","message":"12 edges dropped"},
 {"node":"n1","pod":"web","pktType":"HOST","proto":"tcp","ip":"10.0.0.9","port":80,"remoteOther":"client, \"quoted\""},
 {"node":"n1","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.2","port":5432,"packets":1,"bytes":60}
]`

func openFormatter(t *testing.T, path string, opts Options) plugin.Formatter {
	t.Helper()
	f, err := OpenFormatter(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("OpenFormatter(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestCSV(t *testing.T) {
	f := openFormatter(t, csvPlugin, Options{})
	m := f.Manifest()
	if m.Name != "csv" || m.Kind != "formatter" || m.MediaType != "text/csv" {
		t.Errorf("manifest = %+v, want csv formatter of text/csv", m)
	}
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{nil, "node,namespace,pod,pktType,proto,ip,port,remoteKind,remote,packets,bytes,annotations\n" +
			"n1,,web,HOST,tcp,10.0.0.9,80,,\"client, \"\"quoted\"\"\",0,0,\n" +
			"n1,,web,OUTGOING,tcp,10.0.0.2,5432,pod,db/pg-0,4,240,\n"},
		{map[string]string{"header": "false"}, "n1,,web,HOST,tcp,10.0.0.9,80,,\"client, \"\"quoted\"\"\",0,0,\n" +
			"n1,,web,OUTGOING,tcp,10.0.0.2,5432,pod,db/pg-0,4,240,\n"},
	} {
		got, err := f.Format(t.Context(), plugin.Batch{Gadget: "network-graph", Sequence: 1, Final: true, Events: []byte(smallBatch)}, tc.params)
		if err != nil {
			t.Fatalf("Format(%v): %v", tc.params, err)
		}
		if string(got.Data) != tc.want || got.MediaType != "text/csv" {
			t.Errorf("Format(%v) = %q (%s), want\n%q", tc.params, got.Data, got.MediaType, tc.want)
		}
	}
	_, err := f.Format(t.Context(), plugin.Batch{Sequence: 2, Events: []byte(`[]`)}, map[string]string{"colour": "red"})
	if !errors.Is(err, plugin.ErrPluginFailed) || !strings.Contains(err.Error(), `unknown parameter "colour"`) {
		t.Errorf("Format with an unknown parameter: err = %v, want ErrPluginFailed naming the parameter", err)
	}
}

// TestFaults checks that each kind of misbehaviour fails its batch only,
// with one error naming the plugin and the batch, and that the next call
// works.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		kind, mode string
		opts       Options
		want       string
	}{
		{"formatter", "error", Options{}, "plugin error: asked to fail"},
		{"formatter", "panic", Options{}, "plugin panicked: asked to panic"},
		{"formatter", "panic-goroutine", Options{}, "plugin process died"},
		{"formatter", "exit", Options{}, "plugin process died"},
		{"formatter", "hang", Options{CallTimeout: time.Second}, "no result within the deadline"},
		{"formatter", "big", Options{MaxResultSize: 1 << 20}, "result larger than 1048576 bytes"},
		{"enricher", "garbage", Options{}, "not a JSON array"},
		{"enricher", "exit", Options{}, "plugin process died"},
		{"enricher", "hang", Options{CallTimeout: time.Second}, "no result within the deadline"},
	} {
		t.Run(tc.kind+"/"+tc.mode, func(t *testing.T) {
			tc.opts.Env = []string{"FAULTY_KIND=" + tc.kind}
			var call func(seq uint64, mode string) ([]byte, error)
			if tc.kind == "enricher" {
				e, err := OpenEnricher(t.Context(), faultyPlugin, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				call = func(seq uint64, mode string) ([]byte, error) {
					return e.Enrich(t.Context(), plugin.Batch{Sequence: seq, Events: []byte(`[{"pod":"a"}]`)}, map[string]string{"mode": mode})
				}
			} else {
				f := openFormatter(t, faultyPlugin, tc.opts)
				call = func(seq uint64, mode string) ([]byte, error) {
					out, err := f.Format(t.Context(), plugin.Batch{Sequence: seq, Events: []byte(`[{"pod":"a"}]`)}, map[string]string{"mode": mode})
					return out.Data, err
				}
			}
			_, err := call(7, tc.mode)
			if !errors.Is(err, plugin.ErrPluginFailed) {
				t.Fatalf("err = %v, want ErrPluginFailed", err)
			}
			msg := err.Error()
			for _, want := range []string{faultyPlugin, "batch 7", tc.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("err = %q, want it to contain %q", msg, want)
				}
			}
			got, err := call(8, "ok")
			if err != nil || string(got) != `[{"pod":"a"}]` {
				t.Errorf("next call = %q, %v; want the batch echoed", got, err)
			}
		})
	}
}

func pidOf(t *testing.T, f plugin.Formatter) int {
	t.Helper()
	h := f.(formatter).host
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil {
		t.Fatal("no plugin process")
	}
	return h.proc.cmd.Process.Pid
}

// gone reports whether pid has exited and been reaped.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestKilledProcessRestarts(t *testing.T) {
	before := runtime.NumGoroutine()
	var restarts []string // OnRestart runs under the host's lock, one call at a time
	f, err := OpenFormatter(t.Context(), faultyPlugin, Options{OnRestart: func(name string) { restarts = append(restarts, name) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(restarts) != 0 {
		t.Errorf("OnRestart called %v on the first start", restarts)
	}
	pid := pidOf(t, f)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got, err := f.Format(t.Context(), plugin.Batch{Sequence: 2, Events: []byte(`[]`)}, nil)
	if err != nil || string(got.Data) != `[]` {
		_ = f.Close()
		t.Fatalf("call after kill -9 = %q, %v; want it to work on a new process", got.Data, err)
	}
	newPid := pidOf(t, f)
	if newPid == pid {
		t.Errorf("pid after restart = %d, the killed one", newPid)
	}
	if len(restarts) != 1 || restarts[0] != f.Manifest().Name {
		t.Errorf("OnRestart calls %v, want one with the plugin's name %q", restarts, f.Manifest().Name)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{pid, newPid} {
		if !gone(p) {
			t.Errorf("plugin process %d still exists after Close", p)
		}
	}
	waitFor(t, fmt.Sprintf("goroutines to fall back to %d", before), func() bool {
		return runtime.NumGoroutine() <= before
	})
}

func TestIncompatible(t *testing.T) {
	ctx := t.Context()
	if _, err := OpenEnricher(ctx, csvPlugin, Options{}); !errors.Is(err, plugin.ErrIncompatible) {
		t.Errorf("csv opened as an enricher: err = %v, want ErrIncompatible", err)
	}
	t.Run("protocol", func(t *testing.T) {
		_, err := OpenFormatter(ctx, faultyPlugin, Options{Env: []string{"FAULTY_PROTOCOL=99"}})
		if !errors.Is(err, plugin.ErrIncompatible) {
			t.Errorf("plugin of protocol 99: err = %v, want ErrIncompatible", err)
		}
	})
	if _, err := OpenFormatter(ctx, filepath.Join(t.TempDir(), "missing"), Options{}); !errors.Is(err, plugin.ErrNotFound) {
		t.Errorf("missing file: err = %v, want ErrNotFound", err)
	}
	script := filepath.Join(execDir(t), "not-a-plugin")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hello\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFormatter(ctx, script, Options{}); !errors.Is(err, plugin.ErrPluginFailed) {
		t.Errorf("not a plugin: err = %v, want ErrPluginFailed", err)
	}
}

func TestChecksum(t *testing.T) {
	data, err := os.ReadFile(csvPlugin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	f := openFormatter(t, csvPlugin, Options{Checksum: good})
	if _, err := f.Format(t.Context(), plugin.Batch{Sequence: 1, Events: []byte(`[]`)}, nil); err != nil {
		t.Errorf("pinned plugin: %v", err)
	}
	bad := strings.Repeat("0", 64)
	if _, err := OpenFormatter(t.Context(), csvPlugin, Options{Checksum: bad}); !errors.Is(err, plugin.ErrIncompatible) || !strings.Contains(err.Error(), "pinned checksum") {
		t.Errorf("wrong checksum: err = %v, want ErrIncompatible about the pinned checksum", err)
	}
	if _, err := OpenFormatter(t.Context(), csvPlugin, Options{Checksum: "abc"}); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("malformed checksum: err = %v, want one saying 64 hex digits", err)
	}
}

// TestCloseLeavesNothing checks that Close ends the process and that no
// goroutine outlives it.
func TestCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := OpenFormatter(t.Context(), faultyPlugin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A hanging call is ended by Close.
	pid := pidOf(t, f)
	errc := make(chan error, 1)
	go func() {
		_, err := f.Format(context.Background(), plugin.Batch{Sequence: 1, Events: []byte(`[]`)}, map[string]string{"mode": "hang"})
		errc <- err
	}()
	// Once a call is in flight the host holds its lock; Close must end it.
	waitFor(t, "the call to start", func() bool {
		h := f.(formatter).host
		if !h.mu.TryLock() {
			return true
		}
		h.mu.Unlock()
		return false
	})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, plugin.ErrPluginFailed) {
		t.Errorf("call ended by Close: err = %v, want ErrPluginFailed", err)
	}
	if !gone(pid) {
		t.Errorf("plugin process %d still exists after Close", pid)
	}
	if _, err := f.Format(t.Context(), plugin.Batch{Sequence: 2, Events: []byte(`[]`)}, nil); !errors.Is(err, plugin.ErrPluginFailed) {
		t.Errorf("call after Close: err = %v, want ErrPluginFailed", err)
	}
	waitFor(t, fmt.Sprintf("goroutines to fall back to %d", before), func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("timed out waiting for %s; goroutines:\n%s", what, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogger checks that the plugin's stderr (here the stack of a panic)
// reaches the slog logger, tagged with the plugin.
func TestLogger(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := openFormatter(t, faultyPlugin, Options{Logger: log})
	if _, err := f.Format(t.Context(), plugin.Batch{Sequence: 3, Events: []byte(`[]`)}, map[string]string{"mode": "panic"}); err == nil {
		t.Fatal("panic mode: no error")
	}
	waitFor(t, "the panic's stack in the log", func() bool {
		return strings.Contains(logs.String(), "panic in batch 3: asked to panic")
	})
	if !strings.Contains(logs.String(), "plugin="+faultyPlugin) {
		t.Errorf("log lines lack plugin=%s:\n%s", faultyPlugin, logs.String())
	}
}

// BenchmarkCSV10k formats a batch of 10,000 edges through the csv plugin,
// and through the faulty plugin's echo (the cost of the transport alone:
// the batch goes and comes back).
func BenchmarkCSV10k(b *testing.B) {
	for _, tc := range []struct{ name, path string }{{"csv", csvPlugin}, {"echo", faultyPlugin}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := OpenFormatter(b.Context(), tc.path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			plugintest.Benchmark(b, f, 10_000)
		})
	}
}
