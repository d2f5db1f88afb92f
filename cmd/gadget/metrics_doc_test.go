package main

import (
	"os"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
)

// TestMetricsDoc checks that docs/metrics.md lists every metric gadget
// exports (with traffic metrics on) in a table row with its type and
// labels, and no metric that does not exist.
func TestMetricsDoc(t *testing.T) {
	raw, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `gadget_"); ok {
			name, _, _ := strings.Cut(rest, "`")
			rows["gadget_"+name] = line
		}
	}
	descs, err := metrics.Describe(registry.Default.All())
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, d := range descs {
		exported[d.Name] = true
		row, ok := rows[d.Name]
		if !ok {
			t.Errorf("docs/metrics.md: %s (%s) has no row", d.Name, d.Type)
			continue
		}
		cells := strings.Split(row, "|")
		if len(cells) < 6 {
			t.Errorf("docs/metrics.md: the row of %s has %d cells, want name, type, labels, meaning", d.Name, len(cells)-2)
			continue
		}
		if got := strings.TrimSpace(cells[2]); got != d.Type {
			t.Errorf("docs/metrics.md: %s is a %s, the doc says %q", d.Name, d.Type, got)
		}
		var want []string
		for _, l := range d.Labels {
			want = append(want, "`"+l+"`")
		}
		wantCell := strings.Join(want, ", ")
		if wantCell == "" {
			wantCell = "—"
		}
		if got := strings.TrimSpace(cells[3]); got != wantCell {
			t.Errorf("docs/metrics.md: %s has labels %s, the doc says %s", d.Name, wantCell, got)
		}
	}
	for name := range rows {
		if !exported[name] {
			t.Errorf("docs/metrics.md lists %s, which gadget does not export", name)
		}
	}
}
