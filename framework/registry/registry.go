// Package registry is the one place gadgets become known. Gadgets register
// themselves from an init function; the CLI, the controller and the
// documentation generator look them up here.
package registry

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// ErrNotFound is returned by Lookup for a gadget that is not registered.
var ErrNotFound = errors.New("gadget not found")

// Registry holds gadget declarations by name. The zero value is ready to
// use; it is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	gadgets map[string]*gadget.Info
}

// Register validates info, a gadget that runs here, and adds it. It fails
// if the declaration is invalid or a gadget of the same name is already
// registered.
func (r *Registry) Register(info *gadget.Info) error {
	if err := info.Validate(); err != nil {
		return err
	}
	return r.add(info)
}

// Declare validates info, a gadget's declaration for clients (its New may
// be nil: the tracer is not linked), and adds it. It fails if the
// declaration is invalid or a gadget of the same name is already declared.
func (r *Registry) Declare(info *gadget.Info) error {
	if err := info.ValidateDeclaration(); err != nil {
		return err
	}
	return r.add(info)
}

func (r *Registry) add(info *gadget.Info) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gadgets == nil {
		r.gadgets = map[string]*gadget.Info{}
	}
	if _, dup := r.gadgets[info.Name]; dup {
		return fmt.Errorf("register gadget %q: already registered", info.Name)
	}
	r.gadgets[info.Name] = info
	return nil
}

// Lookup returns the gadget called name, or an error wrapping ErrNotFound
// that lists the registered gadgets.
func (r *Registry) Lookup(name string) (*gadget.Info, error) {
	r.mu.RLock()
	info, ok := r.gadgets[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (registered: %v)", ErrNotFound, name, r.Names())
	}
	return info, nil
}

// Names returns the registered gadget names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.gadgets))
	for n := range r.gadgets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns the registered gadgets sorted by name.
func (r *Registry) All() []*gadget.Info {
	names := r.Names()
	out := make([]*gadget.Info, 0, len(names))
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, n := range names {
		out = append(out, r.gadgets[n])
	}
	return out
}

// Providers returns the registered gadgets that declare c in Provides,
// sorted by name.
func (r *Registry) Providers(c gadget.Capability) []*gadget.Info {
	var out []*gadget.Info
	for _, info := range r.All() {
		for _, p := range info.Provides {
			if p == c {
				out = append(out, info)
				break
			}
		}
	}
	return out
}

// Default is the process-wide registry of the gadgets linked into this
// binary, which they register into from init.
// With Declared, it is the only global mutable state of the framework.
var Default = &Registry{}

// Declared is the process-wide registry of gadget declarations, which
// each gadget's declaration package (e.g. gadgets/networkgraph/spec) fills
// from init. Clients such as kubectl-gadget read it and link no tracer;
// registering a gadget into Default does not add it here.
var Declared = &Registry{}

// MustDeclare declares info into Declared and panics if the declaration is
// invalid, like MustRegister.
func MustDeclare(info *gadget.Info) {
	if err := Declared.Declare(info); err != nil {
		panic(err)
	}
}

// MustRegister registers info into Default and panics if the declaration
// is invalid: a broken declaration is a programming error caught by the
// first test that imports the gadget.
func MustRegister(info *gadget.Info) {
	if err := Default.Register(info); err != nil {
		panic(err)
	}
}
