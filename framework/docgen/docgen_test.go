package docgen_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/docgen"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// flowProbeTypes is the types package of the test-only gadget.
const flowProbeTypes = "github.com/gadgetkit/gadget/framework/docgen/testdata/flowprobe/types"

func noop(context.Context, gadget.Handle) error { return nil }

// flowProbe is a gadget that exists only in these tests: other operations,
// other output modes and another types package than network-graph.
func flowProbe() *gadget.Info {
	return &gadget.Info{
		Name:        "flow-probe",
		Description: "The flow-probe gadget counts the flows of the selected pods and reports them when collected.",
		Operations: []gadget.Operation{
			{Name: "collect", Doc: "Collect the flows seen so far", Handler: noop},
			{Name: "reset", Doc: "Forget the flows seen so far", Handler: noop},
		},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStatus, gadget.OutputModeFile},
		TypesPackage: flowProbeTypes,
		Example: gadget.ExampleTrace{
			Name:      "probe",
			Namespace: "monitoring",
			Node:      "worker-1",
			Filter: gadget.Filter{
				Namespace:     "shop",
				Labels:        map[string]string{"tier": "backend", "app": "cart"},
				ContainerName: "server",
			},
			RunMode:    "Manual",
			OutputMode: gadget.OutputModeStatus,
			Parameters: map[string]string{"verbose": "true", "interval": "5s"},
		},
		New: func(gadget.Config) (gadget.Instance, error) { return nil, errors.New("test gadget") },
	}
}

// flowProbeRegistry returns a fresh registry holding only flow-probe.
func flowProbeRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg := &registry.Registry{}
	if err := reg.Register(flowProbe()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// subsequence returns the index and text of the first line of want that
// cannot be found, in order, in got; or -1 if all are.
func subsequence(got, want []string) (int, string) {
	g := 0
	for i, w := range want {
		for g < len(got) && got[g] != w {
			g++
		}
		if g == len(got) {
			return i, w
		}
		g++
	}
	return -1, ""
}

func TestSubsequence(t *testing.T) {
	tests := []struct {
		name      string
		got, want []string
		missing   int
	}{
		{"equal", []string{"a", "b"}, []string{"a", "b"}, -1},
		{"additions", []string{"a", "x", "b", "y"}, []string{"a", "b"}, -1},
		{"missing", []string{"a", "c"}, []string{"a", "b", "c"}, 1},
		{"out of order", []string{"b", "a"}, []string{"a", "b"}, 1},
		{"repeated line needs two", []string{"", "a"}, []string{"", ""}, 1},
		{"empty want", []string{"a"}, nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, _ := subsequence(tc.got, tc.want); n != tc.missing {
				t.Errorf("subsequence = %d, want %d", n, tc.missing)
			}
		})
	}
}

// TestGenericGadget renders a registry holding only the test gadget and
// compares its page and the index with golden files: the generator knows
// nothing of network-graph.
func TestGenericGadget(t *testing.T) {
	dir := t.TempDir()
	if err := docgen.Write(flowProbeRegistry(t), dir); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "README.md flow-probe.md"; got != want {
		t.Errorf("files written = %s, want %s", got, want)
	}

	page := readFile(t, filepath.Join(dir, "flow-probe.md"))
	for _, want := range []string{
		"title: Gadget flow-probe\n",
		"#### collect\n\nCollect the flows seen so far\n",
		"$ kubectl annotate -n monitoring trace/probe \\\n    gadget.kinvolk.io/operation=reset\n",
		"* Status\n* File\n",
		`package types // import "` + flowProbeTypes + `"`,
		"func NewFlow(pod string, d Direction) *Flow\n",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("flow-probe page lacks %q", want)
		}
	}
	if bytes.Contains(page, []byte("network-graph")) {
		t.Error("flow-probe page mentions network-graph")
	}

	golden(t, "flow-probe.md.golden", page)
	golden(t, "README.md.golden", readFile(t, filepath.Join(dir, "README.md")))
}

func TestExampleCR(t *testing.T) {
	tests := []struct {
		name    string
		example gadget.ExampleTrace
		want    string
	}{
		{
			name: "defaults only",
			want: `apiVersion: gadget.kinvolk.io/v1alpha1
kind: Trace
metadata:
  name: flow-probe
  namespace: gadget
spec:
  gadget: flow-probe
`,
		},
		{
			name: "filter by pod",
			example: gadget.ExampleTrace{
				Name:       "by-pod",
				Namespace:  "gadget",
				Node:       "node-a",
				Filter:     gadget.Filter{Podname: "cart-0"},
				OutputMode: gadget.OutputModeFile,
			},
			want: `apiVersion: gadget.kinvolk.io/v1alpha1
kind: Trace
metadata:
  name: by-pod
  namespace: gadget
spec:
  node: node-a
  gadget: flow-probe
  filter:
    podname: cart-0
  outputMode: File
`,
		},
		{
			name: "everything, with values YAML would misread unquoted",
			example: gadget.ExampleTrace{
				Name:      "all",
				Namespace: "ns",
				Node:      "node-a",
				Filter: gadget.Filter{
					Namespace:     "shop",
					Podname:       "cart-0",
					Labels:        map[string]string{"b": "yes", "a": "1"},
					ContainerName: "server",
				},
				RunMode:    "Manual",
				OutputMode: gadget.OutputModeStatus,
				Parameters: map[string]string{"z": "on: off", "interval": "5s"},
			},
			want: `apiVersion: gadget.kinvolk.io/v1alpha1
kind: Trace
metadata:
  name: all
  namespace: ns
spec:
  node: node-a
  gadget: flow-probe
  filter:
    namespace: shop
    podname: cart-0
    labels:
      a: "1"
      b: "yes"
    containerName: server
  runMode: Manual
  outputMode: Status
  parameters:
    interval: 5s
    z: 'on: off'
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := flowProbe()
			info.Example = tc.example
			page, err := docgen.Page(info)
			if err != nil {
				t.Fatal(err)
			}
			_, rest, _ := strings.Cut(string(page), "```yaml\n")
			got, _, _ := strings.Cut(rest, "```\n")
			if got != tc.want {
				t.Errorf("example CR:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	other := flowProbe()
	other.Name = "a-gadget"
	other.Description = "Pipes | and\nnewlines stay in one cell."
	other.Operations = other.Operations[:1]
	other.OutputModes = []gadget.OutputMode{gadget.OutputModeStream}

	tests := []struct {
		name  string
		infos []*gadget.Info
		rows  []string
	}{
		{name: "no gadgets"},
		{
			name:  "in the given order, cells escaped",
			infos: []*gadget.Info{other, flowProbe()},
			rows: []string{
				"| [a-gadget](a-gadget.md) | Pipes \\| and newlines stay in one cell. | `collect` | Stream |",
				"| [flow-probe](flow-probe.md) | The flow-probe gadget counts the flows of the selected pods and reports them when collected. | `collect`, `reset` | Status, File |",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(docgen.Index(tc.infos))
			if !strings.HasPrefix(got, "---\n"+docgen.Header+"\ntitle: Gadgets\n---\n\n") {
				t.Errorf("index does not start with the generated front matter:\n%s", got)
			}
			_, table, ok := strings.Cut(got, "| --- | --- | --- | --- |\n")
			if !ok {
				t.Fatalf("index has no table:\n%s", got)
			}
			want := strings.Join(tc.rows, "\n")
			if want != "" {
				want += "\n"
			}
			if table != want {
				t.Errorf("rows:\n%s\nwant:\n%s", table, want)
			}
		})
	}
}

// TestDeterministic renders every page twice, and writes the same
// registry twice into one directory: the bytes never change.
func TestDeterministic(t *testing.T) {
	// gadgets/networkgraph/spec checks its own page the same way.
	for _, info := range []*gadget.Info{flowProbe()} {
		first, err := docgen.Page(info)
		if err != nil {
			t.Fatal(err)
		}
		second, err := docgen.Page(info)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Errorf("%s: two renderings differ", info.Name)
		}
		if bytes.Contains(first, []byte(t.TempDir())) || bytes.Contains(first, []byte(mustGetwd(t))) {
			t.Errorf("%s: page contains an absolute path", info.Name)
		}
	}

	dir := t.TempDir()
	reg := flowProbeRegistry(t)
	if err := docgen.Write(reg, dir); err != nil {
		t.Fatal(err)
	}
	before := readDir(t, dir)
	if err := docgen.Write(reg, dir); err != nil {
		t.Fatal(err)
	}
	if after := readDir(t, dir); !equalFiles(before, after) {
		t.Error("writing twice changed the files")
	}
}

func TestWriteRemovesOnlyStalePages(t *testing.T) {
	dir := t.TempDir()
	stale := "---\n" + docgen.Header + "\ntitle: Gadget gone\n---\n"
	writeFile(t, filepath.Join(dir, "gone.md"), stale)
	writeFile(t, filepath.Join(dir, "guide.md"), "# A hand-written guide\n")
	writeFile(t, filepath.Join(dir, "notes.txt"), stale)

	if err := docgen.Write(flowProbeRegistry(t), dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		kept bool
	}{
		{"gone.md", false},
		{"guide.md", true},
		{"notes.txt", true},
		{"flow-probe.md", true},
		{"README.md", true},
	}
	for _, tc := range tests {
		_, err := os.Stat(filepath.Join(dir, tc.file))
		if kept := err == nil; kept != tc.kept {
			t.Errorf("%s: kept = %v, want %v (stat: %v)", tc.file, kept, tc.kept, err)
		}
	}
}

func TestTypesPackageErrors(t *testing.T) {
	tests := []struct {
		name string
		pkg  string
	}{
		{"not in the module", "github.com/gadgetkit/gadget/gadgets/nosuch/types"},
		{"no module provides it", "example.com/nosuch/types"},
		{"directory without Go files", "github.com/gadgetkit/gadget/framework/docgen/testdata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info := flowProbe()
			info.TypesPackage = tc.pkg
			_, err := docgen.Page(info)
			if !errors.Is(err, docgen.ErrTypesPackage) {
				t.Fatalf("Page error = %v, want one wrapping ErrTypesPackage", err)
			}
			msg := err.Error()
			for _, want := range []string{`gadget "flow-probe"`, `TypesPackage "` + tc.pkg + `"`} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %s", msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}

			// Write renders everything before writing anything.
			reg := &registry.Registry{}
			if err := reg.Register(info); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "docs")
			if err := docgen.Write(reg, dir); !errors.Is(err, docgen.ErrTypesPackage) {
				t.Fatalf("Write error = %v, want one wrapping ErrTypesPackage", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Write created %s despite the error (stat: %v)", dir, err)
			}
		})
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		files[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
	}
	return files
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, content := range a {
		if !bytes.Equal(content, b[name]) {
			return false
		}
	}
	return true
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestPageMetrics(t *testing.T) {
	info := flowProbe()
	info.Metrics = []gadget.Metric{
		{Name: "gadget_flow_probe_edges", Help: "Edges | kept.", Kind: gadget.MetricGauge},
		{Name: "gadget_flow_probe_bytes_total", Help: "Bytes.", Kind: gadget.MetricCounter, Labels: []string{"pod", "port"}, Traffic: true},
	}
	page, err := docgen.Page(info)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### Metrics",
		"| `gadget_flow_probe_edges` | gauge | `trace` | Edges \\| kept. |",
		"| `gadget_flow_probe_bytes_total` | counter | `pod`, `port` | Bytes. Only with traffic metrics on (`--traffic-metrics`). |",
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
}
