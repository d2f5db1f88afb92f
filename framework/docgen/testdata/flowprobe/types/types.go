// Package types is the event package of flow-probe, a gadget that exists
// only in the docgen tests. It covers the shapes of declarations a gadget
// page must render: constant groups, typed constants, variables, functions,
// structs with hidden fields, constructors and methods.
package types

import "time"

// Version of the event format.
const Version = 2

// Direction of a flow.
type Direction int

// The directions a flow can have.
const (
	// Ingress flows enter the pod.
	Ingress Direction = iota
	// Egress flows leave it.
	Egress
)

// ErrNoFlow is what Collect reports when nothing was seen.
var ErrNoFlow = flowError("no flow")

type flowError string

func (e flowError) Error() string { return string(e) }

// Flow is one observed flow.
type Flow struct {
	Pod       string    `json:"pod,omitempty"`
	Direction Direction `json:"direction"`

	/* only for TCP */
	Retransmits int `json:"retransmits,omitempty"`

	// Seen is when the flow was first seen.
	Seen time.Time `json:"seen,omitzero"`

	seq uint64
}

// NewFlow returns a flow of pod in direction d.
func NewFlow(pod string, d Direction) *Flow {
	return &Flow{Pod: pod, Direction: d}
}

// String returns pod/direction.
func (f Flow) String() string {
	return f.Pod + "/" + f.Direction.String()
}

// String returns "ingress" or "egress".
func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// Sink receives flows.
type Sink interface {
	// Put stores one flow.
	Put(f Flow) error
	flush()
}

// Count returns the number of flows in fs.
func Count(fs []Flow) int {
	return len(fs)
}
