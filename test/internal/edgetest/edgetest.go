// Package edgetest reads and names network-graph edges for the end-to-end
// tests (test/e2e on the simulated node, test/e2enode on a real one), so
// both check edges in the same words.
package edgetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// Key names an edge as "namespace/pod PKTTYPE proto ip port".
func Key(e ngtypes.Event) string {
	return fmt.Sprintf("%s/%s %s %s %s %d", e.Namespace, e.Pod, e.PktType, e.Proto, e.IP, e.Port)
}

// Remote names the remote end as "pod ns/name", "svc ns/name" or
// "KIND other".
func Remote(e ngtypes.Event) string {
	switch e.RemoteKind {
	case "pod":
		return "pod " + e.RemotePodNamespace + "/" + e.RemotePodName
	case "svc":
		return "svc " + e.RemoteSvcNamespace + "/" + e.RemoteSvcName
	}
	return e.RemoteKind + " " + e.RemoteOther
}

// ReadEdges returns the edges among the JSON lines written to path so far
// (kubectl gadget network-graph stream -o jsonl); other lines are skipped.
func ReadEdges(path string) ([]ngtypes.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the stream: %w", err)
	}
	var out []ngtypes.Event
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e ngtypes.Event
		if json.Unmarshal(line, &e) == nil && e.IsEdge() {
			out = append(out, e)
		}
	}
	return out, nil
}
