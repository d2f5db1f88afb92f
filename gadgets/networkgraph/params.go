package networkgraph

import "github.com/gadgetkit/gadget/gadgets/networkgraph/spec"

// The parameters of network-graph, declared in its spec package.
const (
	ParamInterval = spec.ParamInterval
	ParamMaxEdges = spec.ParamMaxEdges
	ParamAttach   = spec.ParamAttach
	AttachSocket  = spec.AttachSocket
	AttachTCX     = spec.AttachTCX
	AttachPacket  = spec.AttachPacket
)

// Name is the gadget's registered name.
const Name = spec.Name
