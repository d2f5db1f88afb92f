package format

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

var _ gadget.Checkpointer = (*output)(nil)

// Checkpoint writes the unique events so far as one JSON array and keeps
// only those: the final result is the same, the memory smaller. The
// streaming jsonl format has nothing to save and writes an empty array.
func (o *output) Checkpoint(w io.Writer) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("%s output: checkpoint: %w", o.name, ErrClosed)
	}
	o.events = types.Unique(o.events)
	events := o.events
	if events == nil {
		events = []types.Event{}
	}
	if err := json.NewEncoder(w).Encode(events); err != nil {
		return fmt.Errorf("%s output: write the checkpoint: %w", o.name, err)
	}
	return nil
}

// Restore adds the events of a checkpoint (a JSON array of events) to the
// output, as one batch that arrived before every other.
func (o *output) Restore(r io.Reader) error {
	var events []types.Event
	if err := json.NewDecoder(r).Decode(&events); err != nil {
		return fmt.Errorf("%s output: read the checkpoint: %w", o.name, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return fmt.Errorf("%s output: restore: %w", o.name, ErrClosed)
	}
	if o.final == nil {
		return nil // jsonl printed its batches already
	}
	o.events = append(events, o.events...)
	return nil
}
