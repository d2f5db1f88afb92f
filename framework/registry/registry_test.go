package registry_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

func info(name string) *gadget.Info {
	return &gadget.Info{
		Name:         name,
		Description:  "d",
		Operations:   []gadget.Operation{{Name: "start", Doc: "Start", Handler: func(context.Context, gadget.Handle) error { return nil }}},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream},
		TypesPackage: "example.com/types",
		New:          func(gadget.Config) (gadget.Instance, error) { return nil, nil },
	}
}

func TestRegistry(t *testing.T) {
	var r registry.Registry
	for _, n := range []string{"zeta", "alpha"} {
		if err := r.Register(info(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(info("alpha")); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate Register error = %v", err)
	}
	if err := r.Register(info("Bad Name")); !errors.Is(err, gadget.ErrInvalidInfo) {
		t.Errorf("invalid Register error = %v, want ErrInvalidInfo", err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Errorf("Names() = %v", got)
	}
	if all := r.All(); len(all) != 2 || all[0].Name != "alpha" {
		t.Errorf("All() = %v", all)
	}
	if g, err := r.Lookup("zeta"); err != nil || g.Name != "zeta" {
		t.Errorf("Lookup(zeta) = %v, %v", g, err)
	}
	_, err := r.Lookup("nope")
	if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "[alpha zeta]") {
		t.Errorf("Lookup(nope) error = %v, want ErrNotFound listing the gadgets", err)
	}
}

// TestDeclare checks that a declaration without New is accepted by Declare
// and refused by Register, and that Declare still validates the rest.
func TestDeclare(t *testing.T) {
	var r registry.Registry
	decl := info("client-side")
	decl.New = nil
	if err := r.Register(decl); !errors.Is(err, gadget.ErrInvalidInfo) || !strings.Contains(err.Error(), "New is nil") {
		t.Errorf("Register without New: error = %v, want ErrInvalidInfo naming New", err)
	}
	if err := r.Declare(decl); err != nil {
		t.Fatalf("Declare without New: %v", err)
	}
	if err := r.Declare(decl); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate Declare error = %v", err)
	}
	bad := info("bad-params")
	bad.Parameters = []gadget.Parameter{{Name: "interval", Doc: "d"}, {Name: "interval", Doc: "d"}}
	if err := r.Declare(bad); !errors.Is(err, gadget.ErrInvalidInfo) || !strings.Contains(err.Error(), `parameter "interval" is declared twice`) {
		t.Errorf("Declare with a parameter twice: error = %v", err)
	}
	bad = info("bad-advice")
	bad.Formats = []string{"table"}
	bad.NewOutput = func(string, io.Writer, io.Writer) (gadget.Output, error) { return nil, nil }
	bad.Advice = &gadget.Advice{Format: "policy", Short: "s"}
	if err := r.Declare(bad); !errors.Is(err, gadget.ErrInvalidInfo) || !strings.Contains(err.Error(), "Advice") {
		t.Errorf("Declare with Advice in no format: error = %v", err)
	}
}
