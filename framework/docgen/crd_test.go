package docgen_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/docgen"
)

func TestCRDPage(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("testdata", "crd", "widgets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := docgen.CRDPage(crd, "A widget is a test resource.")
	if err != nil {
		t.Fatalf("CRDPage: %v", err)
	}
	golden(t, filepath.Join("crd", "widgets.md.golden"), got)
}

func TestCRDPageErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"not yaml", "kind: [", "parse YAML"},
		{"not a CRD", "kind: Pod\n", `kind is "Pod"`},
		{"no versions", "kind: CustomResourceDefinition\nmetadata: {name: a.b}\n", "spec.versions is empty"},
		{"no schema", "kind: CustomResourceDefinition\nspec: {versions: [{name: v1}]}\n", "version v1: schema.openAPIV3Schema is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := docgen.CRDPage([]byte(tt.yaml), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CRDPage error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
