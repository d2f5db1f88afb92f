// Package declared declares every gadget of this repository to clients: a
// binary that only talks to agents (kubectl-gadget) imports it for its side
// effect and finds the gadgets in registry.Declared, without naming any of
// them and without linking a tracer (no eBPF). Binaries that run gadgets
// import gadgets/all instead.
package declared

import (
	// Each gadget's spec package declares it from init.
	_ "github.com/gadgetkit/gadget/gadgets/dns/spec"
	_ "github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
)
