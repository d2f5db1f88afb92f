package format

import (
	"encoding/json"
	"fmt"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// CheckEdgesKept checks a network-graph enricher's result: every event
// out is one of the events in, by its identity (types.Event.Key: namespace,
// pod, pktType, proto, ip and port), each at most once. An enricher may
// add annotations, change other fields or drop events; it may not invent
// an edge or change what identifies one.
func CheckEdgesKept(in, out []byte) error {
	var ins, outs []types.Event
	if err := json.Unmarshal(in, &ins); err != nil {
		return fmt.Errorf("the batch given: %w", err)
	}
	if err := json.Unmarshal(out, &outs); err != nil {
		return fmt.Errorf("the enriched batch is not a JSON array of network-graph events: %w", err)
	}
	return edgesKept(ins, outs)
}

func edgesKept(ins, outs []types.Event) error {
	left := make(map[string]int, len(ins))
	for i := range ins {
		left[ins[i].Key()]++
	}
	for i := range outs {
		k := outs[i].Key()
		if left[k] == 0 {
			return fmt.Errorf("event %d of its result (%s) is not in the batch it was given: "+
				"an enricher may add annotations or drop events, never invent one or change its namespace, pod, pktType, proto, ip or port", i+1, k)
		}
		left[k]--
	}
	return nil
}

// CheckEdgesKeptValues is CheckEdgesKept for batches already decoded
// (pipeline.Config.CheckEnrichedValues): in and out are []types.Event.
func CheckEdgesKeptValues(in, out any) error {
	ins, err := values(in)
	if err != nil {
		return fmt.Errorf("the batch given: %w", err)
	}
	outs, err := values(out)
	if err != nil {
		return fmt.Errorf("the enriched batch: %w", err)
	}
	return edgesKept(ins, outs)
}

// Decode decodes a batch, a JSON array of network-graph events, into the
// []types.Event the built-in formats, the merger and WriteMessagesValues
// take (pipeline.Config.Decode).
func Decode(events []byte) (any, error) {
	all, err := decode(events)
	if err != nil {
		return nil, err
	}
	return all, nil
}
