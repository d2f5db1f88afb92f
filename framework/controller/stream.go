package controller

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultStreamBatches is how many of the latest batches a trace in the
// Stream output mode keeps in memory.
const DefaultStreamBatches = 64

// StreamBatch is one batch a trace in the Stream output mode emitted.
type StreamBatch struct {
	// Seq numbers the batches of one run of the trace from 1, without gaps;
	// a reader that sees a gap missed the batches that were dropped.
	Seq uint64 `json:"seq"`
	// Time is when the node agent received the batch.
	Time time.Time `json:"time"`
	// Data is the batch as JSON, e.g. a JSON array of network-graph events.
	Data json.RawMessage `json:"data"`
}

// Streams gives access to the latest batches of the traces that run in
// the Stream output mode on this node; a stream server serves them.
type Streams interface {
	// Stream returns the kept batches of the trace key whose Seq is greater
	// than after, oldest first, a channel closed when the next batch
	// arrives or the stream ends, and the token of this run of the trace
	// (status.streamToken), which a server must check before it serves the
	// batches. ok is false when the trace does not run here in the Stream
	// output mode.
	Stream(key types.NamespacedName, after uint64) (batches []StreamBatch, next <-chan struct{}, token string, ok bool)
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

// stream keeps the latest batches of one trace run.
type stream struct {
	mu      sync.Mutex
	keep    int
	batches []StreamBatch // oldest first, at most keep
	seq     uint64
	next    chan struct{}
	token   string // status.streamToken of this run; immutable
}

func newStream(keep int) *stream {
	return &stream{keep: keep, next: make(chan struct{}), token: newStreamToken()}
}

// add encodes batch and keeps it, dropping the oldest batch when full.
func (s *stream) add(batch any) error {
	data, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("stream: encode batch of type %T: %w", batch, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if len(s.batches) == s.keep {
		copy(s.batches, s.batches[1:])
		s.batches = s.batches[:len(s.batches)-1]
	}
	s.batches = append(s.batches, StreamBatch{Seq: s.seq, Time: time.Now(), Data: data})
	close(s.next)
	s.next = make(chan struct{})
	return nil
}

// since returns the kept batches after seq and the channel of the next.
func (s *stream) since(after uint64) ([]StreamBatch, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StreamBatch
	for _, b := range s.batches {
		if b.Seq > after {
			out = append(out, b)
		}
	}
	return out, s.next
}

// end wakes the readers for good: the run is over.
func (s *stream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.next:
	default:
		close(s.next)
	}
}
