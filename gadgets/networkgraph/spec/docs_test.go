package spec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/docgen"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
)

// TestNetworkGraphPageMatchesSeed checks the network-graph page
// against the seed page: identical up to the Types section, and every line
// of the seed's Types section present in order. Only the import path on the
// package clause may differ, and lines may be added (doc text, constants,
// fields added since the seed).
func TestNetworkGraphPageMatchesSeed(t *testing.T) {
	info := spec.Info()
	got, err := docgen.Page(info)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join("testdata", "seed", "network-graph.md"))
	if err != nil {
		t.Fatal(err)
	}

	const typesHeading = "### Types\n"
	seedHead, seedTypes, ok := strings.Cut(string(seed), typesHeading)
	if !ok {
		t.Fatalf("seed page has no %q", typesHeading)
	}
	gotHead, gotTypes, ok := strings.Cut(string(got), typesHeading)
	if !ok {
		t.Fatalf("page has no %q:\n%s", typesHeading, got)
	}
	// Up to the Types section the page is the seed's, line for line, except
	// that the gadget may declare output modes the seed did not have (a
	// "* Mode" line more in the Output Modes list).
	gotLines, seedLines := strings.Split(gotHead, "\n"), strings.Split(seedHead, "\n")
	if n, line := subsequence(gotLines, seedLines); n >= 0 {
		t.Errorf("seed line %d %q is missing or out of order before the Types section\ngot:\n%s", n+1, line, gotHead)
	}
	for _, extra := range extraLines(gotLines, seedLines) {
		if !slices.ContainsFunc(info.OutputModes, func(m gadget.OutputMode) bool { return extra == "* "+string(m) }) {
			t.Errorf("line %q is not in the seed page: only additional output modes may add lines before the Types section", extra)
		}
	}

	again, err := docgen.Page(info)
	if err != nil || !bytes.Equal(got, again) {
		t.Errorf("two renderings of the page differ (%v)", err)
	}

	want := strings.Split(seedTypes, "\n")
	for i, line := range want {
		if strings.HasPrefix(line, "package types // import ") {
			want[i] = `package types // import "` + info.TypesPackage + `"`
		}
	}
	if n, line := subsequence(strings.Split(gotTypes, "\n"), want); n >= 0 {
		t.Errorf("Types section: seed line %d %q is missing or out of order\ngot:\n%s", n+1, line, gotTypes)
	}
}

// extraLines returns the lines of got that the in-order match of want
// (as subsequence makes it) does not use.
func extraLines(got, want []string) []string {
	var extra []string
	w := 0
	for _, g := range got {
		if w < len(want) && g == want[w] {
			w++
			continue
		}
		extra = append(extra, g)
	}
	return extra
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
