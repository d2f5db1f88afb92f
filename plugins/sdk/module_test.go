package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly asserts that the SDK module's packages import
// the standard library and one another only: a third-party plugin that
// requires this module must not pull in gadget's framework or any other
// module.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/gadgetkit/gadget/plugins/sdk" && !strings.HasPrefix(p, "github.com/gadgetkit/gadget/plugins/sdk/") {
			t.Errorf("the SDK imports %s; it may import the standard library only", p)
		}
	}
	mods, err := exec.Command("go", "list", "-m", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, mods)
	}
	if got := strings.TrimSpace(string(mods)); got != "github.com/gadgetkit/gadget/plugins/sdk" {
		t.Errorf("go list -m all = %q, want the SDK module alone", got)
	}
}
