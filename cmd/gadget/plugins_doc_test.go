package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
)

// docBlock is a fenced block of docs/plugins.md that the test runs: its
// commands and the output the doc promises, if any.
type docBlock struct {
	tag    string // "test" or "test-c"
	line   int
	script string
	output *string
}

// parseDocBlocks returns the ```sh test blocks of a Markdown file, each
// with the ```text output block that follows it, if any.
func parseDocBlocks(md string) ([]docBlock, error) {
	var blocks []docBlock
	sc := bufio.NewScanner(strings.NewReader(md))
	var cur *strings.Builder
	var kind string
	n, start := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if cur == nil {
			switch strings.TrimSpace(line) {
			case "```sh test", "```sh test-c":
				kind = strings.TrimPrefix(strings.TrimSpace(line), "```sh ")
			case "```text output":
				kind = "output"
			default:
				continue
			}
			cur, start = &strings.Builder{}, n
			continue
		}
		if line != "```" {
			cur.WriteString(line + "\n")
			continue
		}
		if kind == "output" {
			if len(blocks) == 0 || blocks[len(blocks)-1].output != nil {
				return nil, fmt.Errorf("line %d: an output block follows no command block", start)
			}
			s := cur.String()
			blocks[len(blocks)-1].output = &s
		} else {
			blocks = append(blocks, docBlock{tag: kind, line: start, script: cur.String()})
		}
		cur = nil
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: unterminated block", start)
	}
	return blocks, sc.Err()
}

// TestPluginsDoc runs the commands of docs/plugins.md, in order, in an
// empty directory, with the gadget command built from this checkout, and
// checks the outputs the doc shows. The C blocks need clang and wasi-libc:
// without them they are skipped, or fail under CI=true.
func TestPluginsDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins and a Go module")
	}
	root := plugintest.ModuleRoot(t)
	md, err := os.ReadFile(filepath.Join(root, "docs", "plugins.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseDocBlocks(string(md))
	if err != nil {
		t.Fatalf("docs/plugins.md: %v", err)
	}
	haveC := cToolchain()
	if !haveC && os.Getenv("CI") == "true" {
		t.Fatal("the C example needs clang, lld and wasi-libc (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)")
	}

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "gadget"), "./cmd/gadget")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gadget: %v\n%s", err, out)
	}

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, b := range blocks {
		if b.tag == "test-c" && !haveC {
			t.Logf("docs/plugins.md:%d: skipped: no clang with wasi-libc", b.line)
			continue
		}
		fmt.Fprintf(&script, "echo '@@block %d@@'\n%s", i, b.script)
	}
	cmd := exec.Command("bash", "-c", script.String())
	// Not t.TempDir, whose parent is private: run as root, gadget starts
	// the go-plugin built there as nobody, who must reach it.
	work, err := os.MkdirTemp("", "plugins-doc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GADGET_REPO="+root, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the commands of docs/plugins.md failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	outputs := map[int]string{}
	parts := strings.Split(stdout.String(), "@@block ")
	for _, p := range parts[1:] {
		var i int
		head, body, _ := strings.Cut(p, "\n")
		if _, err := fmt.Sscanf(head, "%d@@", &i); err != nil {
			t.Fatalf("bad marker %q", head)
		}
		outputs[i] = body
	}
	for i, b := range blocks {
		got, ran := outputs[i]
		if b.output == nil || !ran {
			continue
		}
		if got != *b.output {
			t.Errorf("docs/plugins.md:%d: the commands print\n%s\nthe doc shows\n%s", b.line, got, *b.output)
		}
	}
}

// cToolchain reports whether clang can build WASI reactors here.
func cToolchain() bool {
	_, errClang := exec.LookPath("clang")
	_, errLd := exec.LookPath("wasm-ld")
	_, errLibc := os.Stat("/usr/lib/wasm32-wasi/crt1-reactor.o")
	return errClang == nil && errLd == nil && errLibc == nil
}

// TestPluginsDocBlocks keeps TestPluginsDoc honest: the doc has command
// blocks for each form of plugin, and outputs to check.
func TestPluginsDocBlocks(t *testing.T) {
	md, err := os.ReadFile(filepath.Join(plugintest.ModuleRoot(t), "docs", "plugins.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseDocBlocks(string(md))
	if err != nil {
		t.Fatal(err)
	}
	var outputs, c int
	for _, b := range blocks {
		if b.output != nil {
			outputs++
		}
		if b.tag == "test-c" {
			c++
		}
	}
	if len(blocks) < 5 || outputs < 3 || c < 1 {
		t.Errorf("docs/plugins.md has %d command blocks, %d with output, %d in C; want at least 5, 3 and 1", len(blocks), outputs, c)
	}
}
