package gadget

import "io"

// Checkpointer is implemented by an Output whose result so far can be
// saved while the trace runs and added back to a fresh Output of the same
// format after the process restarts: the node agent checkpoints the
// Status output of a running trace with it, so that a crash loses only
// what was recorded since the last checkpoint.
type Checkpointer interface {
	// Checkpoint writes the result so far to w in a form Restore reads,
	// without closing the output. It may compact what the output keeps
	// (e.g. merge duplicate events), never change its final result.
	Checkpoint(w io.Writer) error
	// Restore adds a checkpoint written by Checkpoint of an output of the
	// same format to what the output holds, as if its batches had arrived
	// again. Its error says why the checkpoint is unreadable.
	Restore(r io.Reader) error
}
