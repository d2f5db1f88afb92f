package wasm_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// TestGoMistakes checks the errors of the common mistakes in a Go
// plugin's build: each names the mistake and its fix.
func TestGoMistakes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go WASM modules")
	}
	// A plugin that registers no handler, in a module of its own as a
	// third party writes it.
	dir := t.TempDir()
	sdk := filepath.Join(plugintest.ModuleRoot(t), "plugins", "sdk")
	files := map[string]string{
		"go.mod": "module example.com/noreg\n\ngo 1.26\n\nrequire github.com/gadgetkit/gadget/plugins/sdk v0.0.0\n\n" +
			"replace github.com/gadgetkit/gadget/plugins/sdk => " + sdk + "\n",
		"main.go": "package main\n\nimport _ \"github.com/gadgetkit/gadget/plugins/sdk/wasm\"\n\nfunc main() {}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reactor := filepath.Join(dir, "reactor.wasm")
	if err := plugintest.GoBuildWasm(dir, ".", reactor); err != nil {
		t.Fatal(err)
	}
	command := filepath.Join(dir, "command.wasm")
	build := exec.Command("go", "build", "-o", command, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	h := newHost(t, wasm.Options{})
	tests := []struct {
		name, path, want string
		is               error
	}{
		{"no handler registered", reactor, "the module registered no plugin: gadget_manifest returned nothing; " +
			"a Go plugin calls wasm.Formatter or wasm.Enricher from an init function (a reactor never runs main)", plugin.ErrPluginFailed},
		{"built without -buildmode=c-shared", command, "the module is a WASI command (it exports _start), not a reactor: " +
			"build a Go plugin with -buildmode=c-shared (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared), a C one with -mexec-model=reactor", plugin.ErrIncompatible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.OpenFormatter(context.Background(), tt.path)
			if !errors.Is(err, tt.is) || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant one ending in %q, wrapping %v", err, tt.want, tt.is)
			}
		})
	}
}

// cModule builds the C source src as a WASI reactor with clang and
// wasi-libc, skipping the test without them (failing it under CI=true).
func cModule(t *testing.T, src string) string {
	t.Helper()
	_, errClang := exec.LookPath("clang")
	_, errLibc := os.Stat("/usr/lib/wasm32-wasi/crt1-reactor.o")
	if errClang != nil || errLibc != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs clang, lld and wasi-libc")
		}
		t.Skip("needs clang, lld and wasi-libc")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.c"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("clang", "--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor", "-O1", "-o", out, in)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	return out
}

// cPlugin is a C formatter of the raw ABI; NAME, CALL_TYPE and CALL_BODY
// are replaced per test.
const cPlugin = `#include <stdint.h>
static const char manifest[] = "{\"name\":\"NAME\",\"kind\":\"formatter\",\"contractVersion\":1}";
static char buf[1 << 16];
__attribute__((export_name("gadget_manifest"))) uint64_t gadget_manifest(void) {
	return ((uint64_t)(uintptr_t)manifest << 32) | (sizeof manifest - 1);
}
__attribute__((export_name("gadget_alloc"))) uint32_t gadget_alloc(uint32_t n) {
	return n <= sizeof buf ? (uint32_t)(uintptr_t)buf : 0;
}
__attribute__((noinline)) void explode(void) { __builtin_trap(); }
__attribute__((export_name("gadget_call"))) CALL_TYPE gadget_call(uint32_t p, uint32_t n) {
	CALL_BODY
}
`

func cSource(name, callType, body string) string {
	return strings.NewReplacer("NAME", name, "CALL_TYPE", callType, "CALL_BODY", body).Replace(cPlugin)
}

// TestCMistakes checks the errors of the common mistakes in a plugin
// written against the raw ABI.
func TestCMistakes(t *testing.T) {
	h := newHost(t, wasm.Options{})
	ctx := context.Background()
	t.Run("gadget_call returns i32", func(t *testing.T) {
		_, err := h.OpenFormatter(ctx, cModule(t, cSource("i32", "uint32_t", "return 0;")))
		want := "the module's gadget_call is (i32, i32) -> i32, want (ptr i32, len i32) -> i64: declare it as docs/plugins.md's raw ABI says"
		if !errors.Is(err, plugin.ErrIncompatible) || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("err = %v\nwant one ending in %q", err, want)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		_, err := h.OpenFormatter(ctx, cModule(t, cSource("Bad Name/../x", "uint64_t", "return 0;")))
		want := `bad plugin name: "Bad Name/../x": use lower-case letters, digits and single '-' between words`
		if !errors.Is(err, plugin.ErrIncompatible) || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant one containing %q", err, want)
		}
	})
	t.Run("trap names the guest's functions", func(t *testing.T) {
		f, err := h.OpenFormatter(ctx, cModule(t, cSource("trap", "uint64_t", "explode(); return 0;")))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, err = f.Format(ctx, plugin.Batch{Sequence: 2, Events: []byte(`[]`)}, nil)
		want := `batch 2: plugin failed: trapped: wasm error: unreachable in explode, gadget_call`
		if !errors.Is(err, plugin.ErrPluginFailed) || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("err = %v\nwant one ending in %q", err, want)
		}
	})
}
