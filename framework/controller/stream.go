package controller

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/framework/streambuf"
)

// Streams gives access to the buffers of the traces that run in the
// Stream output mode on this node; a stream server serves them.
type Streams interface {
	// Stream returns the buffer of the current (or last) run of the trace
	// key; its Token is the run's status.streamToken, which a server must
	// check before it serves the buffer. ok is false when the trace does
	// not run here in the Stream output mode. A new run of the trace has a
	// new buffer: a reader of the old one stops when the buffer it gets
	// here changes.
	Stream(key types.NamespacedName) (ring *streambuf.Ring, ok bool)
}

// streamTokenBytes is the size of a stream token's random part: 256 bits.
const streamTokenBytes = 32

// newStreamToken returns a fresh random stream token, base64url without
// padding (43 characters).
func newStreamToken() string {
	b := make([]byte, streamTokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newStream returns the buffer of a new run, with a fresh token, of
// budget bytes (0: streambuf.DefaultBytes).
func newStream(budget int) *streambuf.Ring {
	return streambuf.New(newStreamToken(), streambuf.Config{Bytes: budget})
}

// addBatch encodes batch and keeps it in s.
func addBatch(s *streambuf.Ring, batch any) error {
	data, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("stream: encode batch of type %T: %w", batch, err)
	}
	return s.Add(data)
}

// StreamStats sums the counters of the stream buffers of the traces this
// agent runs now (a trace that is gone takes its counters with it).
func (r *Reconciler) StreamStats() streambuf.Stats {
	r.mu.Lock()
	all := make([]*running, 0, len(r.traces))
	for _, rt := range r.traces {
		all = append(all, rt)
	}
	r.mu.Unlock()
	var sum streambuf.Stats
	for _, rt := range all {
		if s := rt.currentStream(); s != nil {
			sum = sum.Add(s.Stats())
		}
	}
	return sum
}
