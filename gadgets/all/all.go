// Package all registers every gadget of this repository: a binary imports
// it for its side effect and finds the gadgets in registry.Default, without
// naming any of them.
package all

import (
	// Each gadget registers itself from init.
	_ "github.com/gadgetkit/gadget/gadgets/dns"
	_ "github.com/gadgetkit/gadget/gadgets/networkgraph"
)
