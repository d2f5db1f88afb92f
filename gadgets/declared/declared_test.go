package declared_test

import (
	"slices"
	"testing"

	"github.com/gadgetkit/gadget/framework/registry"
	_ "github.com/gadgetkit/gadget/gadgets/all"
	_ "github.com/gadgetkit/gadget/gadgets/declared"
)

// TestSameGadgets checks that every gadget gadgets/all registers is
// declared here too, with the same declaration but its tracer: a gadget
// added to one list and not the other would be missing from kubectl-gadget
// or from the agent.
func TestSameGadgets(t *testing.T) {
	declared, registered := registry.Declared.Names(), registry.Default.Names()
	if !slices.Equal(declared, registered) {
		t.Fatalf("gadgets/declared declares %v, gadgets/all registers %v: add the gadget to both", declared, registered)
	}
	for _, name := range registered {
		d, _ := registry.Declared.Lookup(name)
		r, _ := registry.Default.Lookup(name)
		if d.Description != r.Description || !slices.Equal(d.Formats, r.Formats) || len(d.Parameters) != len(r.Parameters) {
			t.Errorf("gadget %s: its declaration and its registration differ", name)
		}
	}
}
