package format

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// renderJSON writes events as one indented JSON array by
// types.EventsString, in its order: edges by Key, then warn and err events.
func renderJSON(w io.Writer, events []types.Event) error {
	_, err := io.WriteString(w, types.EventsString(events)+"\n")
	return err
}

// writeJSONL writes every event as one compact JSON object per line, in a
// single write so that the lines of a batch stay together.
func writeJSONL(w io.Writer, events []types.Event) error {
	if len(events) == 0 {
		return nil
	}
	var b strings.Builder
	for _, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.Key(), err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
