package importrules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/registry"
	// The gadget names cmd/ must not spell out.
	_ "github.com/gadgetkit/gadget/gadgets/all"
)

const mod = "github.com/gadgetkit/gadget"

// pkg is what go list says of one package.
type pkg struct {
	ImportPath   string
	Name         string
	Dir          string
	GoFiles      []string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

// rel is the package's path inside the main module, e.g. framework/trace.
func (p pkg) rel() string { return strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/") }

// uses is every package p links or its tests import.
func (p pkg) uses() []string {
	return slices.Concat(p.Deps, p.TestImports, p.XTestImports)
}

// list runs go list -json in dir over its packages.
func list(t *testing.T, dir string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Name,Dir,GoFiles,Imports,Deps,TestImports,XTestImports", "./...")
	cmd.Dir = dir
	// go list reads the sources itself: the test cache cannot see them.
	cmd.Env = append(cmd.Environ(), "GOFLAGS=-count=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list in %s: %v", dir, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list in %s: no packages", dir)
	}
	return pkgs
}

// root is the main module's directory.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// under reports whether import path ip is the main module's package
// prefix or one below it, e.g. under(ip, "gadgets").
func under(ip, prefix string) bool {
	p := mod + "/" + prefix
	return ip == p || strings.HasPrefix(ip, p+"/")
}

// gadgetOf is the gadget directory of a package under gadgets/ ("" for
// the aggregators gadgets/all and gadgets/declared, which import them all).
func gadgetOf(ip string) string {
	rest, ok := strings.CutPrefix(ip, mod+"/gadgets/")
	if !ok {
		return ""
	}
	g, _, _ := strings.Cut(rest, "/")
	if g == "all" || g == "declared" {
		return ""
	}
	return g
}

func TestImportRules(t *testing.T) {
	dir := root(t)
	pkgs := list(t, dir)
	names := registry.Default.Names()
	if len(names) == 0 {
		t.Fatal("no gadget registered: gadgets/all registers none")
	}
	for _, p := range pkgs {
		r := p.rel()
		switch {
		case under(p.ImportPath, "framework"):
			for _, u := range p.uses() {
				if under(u, "gadgets") {
					t.Errorf("%s uses %s: framework/ never imports gadgets/ (tests included); move the code or the test to the gadget", r, u)
				}
			}
		case gadgetOf(p.ImportPath) != "":
			g := gadgetOf(p.ImportPath)
			for _, u := range p.uses() {
				if h := gadgetOf(u); h != "" && h != g {
					t.Errorf("%s uses %s: a gadget never imports another gadget; declare the observation it needs (gadget.Info Uses/Provides)", r, u)
				}
			}
		case under(p.ImportPath, "plugins"):
			for _, u := range p.uses() {
				if under(u, "framework") || under(u, "gadgets") {
					t.Errorf("%s uses %s: plugins import plugins/sdk only, never the framework or a gadget", r, u)
				}
			}
		case under(p.ImportPath, "cmd"):
			for _, u := range p.Imports {
				if under(u, "gadgets") && !under(u, "gadgets/all") && !under(u, "gadgets/declared") {
					t.Errorf("%s imports %s: cmd/ names no gadget; get the gadgets from gadgets/all or gadgets/declared", r, u)
				}
			}
			for _, lit := range gadgetLiterals(t, p, names) {
				t.Errorf("%s: %s: cmd/ names no gadget; take it from the registry", r, lit)
			}
		}
		for _, u := range p.Imports {
			if b, ok := strings.CutPrefix(u, mod+"/bpf/"); ok && gadgetOf(p.ImportPath) != b && !strings.HasPrefix(r, "bpf/"+b) {
				t.Errorf("%s imports %s: a BPF object is loaded by its gadget (gadgets/%s) only", r, u, b)
			}
		}
		if slices.Contains([]string{"util", "utils", "common", "helpers"}, p.Name) {
			t.Errorf("%s: no package named %s: name it for what it does", r, p.Name)
		}
	}
}

// gadgetLiterals returns the string literals of p's non-test files that
// are a gadget's name, as file:line: "name".
func gadgetLiterals(t *testing.T, p pkg, names []string) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	for _, f := range p.GoFiles {
		file, err := parser.ParseFile(fset, filepath.Join(p.Dir, f), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && slices.Contains(names, s) {
				out = append(out, f+":"+strconv.Itoa(fset.Position(lit.Pos()).Line)+": "+lit.Value)
			}
			return true
		})
	}
	return out
}

// TestSDKModules checks that the modules of plugins/sdk, which third
// parties require alone, pull in nothing of the framework or the gadgets.
func TestSDKModules(t *testing.T) {
	dir := root(t)
	for _, m := range []string{"plugins/sdk", "plugins/sdk/goplugin"} {
		for _, p := range list(t, filepath.Join(dir, m)) {
			for _, u := range p.uses() {
				if under(u, "framework") || under(u, "gadgets") || under(u, "internal") {
					t.Errorf("%s uses %s: plugins/sdk never imports the framework", p.ImportPath, u)
				}
			}
		}
	}
}
