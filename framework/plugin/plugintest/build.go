// Package plugintest is the conformance suite every plugin host passes
// with the same inputs and expected outputs (Run), the batch benchmark
// (Benchmark), and helpers that build the repository's WASM guests for
// tests (BuildWasm, BuildC).
package plugintest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ModuleRoot returns the directory of the repository's go.mod, found from
// the current directory.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		tb.Fatal("not inside a Go module")
	}
	return filepath.Dir(mod)
}

// BuildWasm builds the Go guest packages pkgs (import paths or paths
// relative to the module root, e.g. "./plugins/dot") as WASI reactors into
// dir and returns the path of each .wasm file, named after the last
// element of the package path. The Go build cache makes repeated builds
// cheap.
func BuildWasm(tb testing.TB, dir string, pkgs ...string) []string {
	tb.Helper()
	root := ModuleRoot(tb)
	paths := make([]string, 0, len(pkgs))
	for _, pkg := range pkgs {
		out := filepath.Join(dir, filepath.Base(pkg)+".wasm")
		if err := GoBuildWasm(root, pkg, out); err != nil {
			tb.Fatal(err)
		}
		paths = append(paths, out)
	}
	return paths
}

// GoBuildWasm runs, in dir, GOOS=wasip1 GOARCH=wasm go build
// -buildmode=c-shared -o out pkg.
func GoBuildWasm(dir, pkg, out string) error {
	cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s as WASM: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		if p := filepath.Join(goroot, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// BuildC builds the C guest whose Makefile is in dir (relative to the
// module root, e.g. "plugins/examples/c-formatter") with make, clang and
// Debian's wasi-libc, into the file out. Without that toolchain it skips
// the test, or fails it under CI=true, where the toolchain must be there.
func BuildC(tb testing.TB, dir, out string) {
	tb.Helper()
	_, errClang := exec.LookPath("clang")
	_, errLd := exec.LookPath("wasm-ld")
	_, errLibc := os.Stat("/usr/lib/wasm32-wasi/crt1-reactor.o")
	if errClang != nil || errLd != nil || errLibc != nil {
		msg := "needs clang, lld and wasi-libc (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	cmd := exec.Command("make", "-s", "-C", filepath.Join(ModuleRoot(tb), dir), "OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build the C guest of %s: %v\n%s", dir, err, b)
	}
}
