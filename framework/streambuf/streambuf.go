// Package streambuf is the bounded buffer behind a trace in the Stream
// output mode: it keeps the latest events of one run of a trace within a
// byte budget, as newline-delimited JSON, for any number of readers.
//
// A batch is split into chunks of at most Config.ChunkBytes (at event
// boundaries), so that the buffer can keep the tail of a batch larger than
// itself and a reader holds at most one fetch of chunks at a time
// (Ring.Since's maxBytes) however large the batches are. When the budget
// is full the oldest chunks go; a reader that had not read them learns
// exactly what it missed from the chunk numbering (Cursor.Advance). The
// package imports only the standard library.
package streambuf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Defaults of Config.
const (
	// DefaultBytes is the byte budget of one run's buffer: 8 MiB.
	DefaultBytes = 8 << 20
	// DefaultChunkBytes is the largest chunk: 64 KiB.
	DefaultChunkBytes = 64 << 10
	// minBytes is the smallest budget accepted: one chunk of 4 KiB.
	minBytes = 4 << 10
)

// Config sizes a Ring. Zero values take the defaults.
type Config struct {
	// Bytes bounds the event bytes kept (the NDJSON lines); at least
	// 4 KiB.
	Bytes int
	// ChunkBytes bounds one chunk; it is at most Bytes.
	ChunkBytes int
}

// Chunk is part of one batch: some of its events, one JSON value per
// line, each line ending in '\n'.
type Chunk struct {
	// Seq numbers the chunks of a run from 1, without gaps.
	Seq uint64
	// Batch numbers the batches of a run from 1; a batch is one or more
	// chunks with consecutive Seq.
	Batch uint64
	// Part numbers the chunks of one batch from 0.
	Part int
	// Last is set on the final chunk of its batch.
	Last bool
	// Time is when the batch was added.
	Time time.Time
	// Events is the number of lines in Data.
	Events int
	// Offset and EventOffset are the bytes and events of the run before
	// this chunk.
	Offset, EventOffset uint64
	// Data holds the lines. It is shared and must not be modified.
	Data []byte
}

// Stats are the counters of one ring, cumulative over its run.
type Stats struct {
	// Batches, Events and Bytes are what was added.
	Batches, Events, Bytes uint64
	// KeptChunks and KeptBytes are what the ring holds now.
	KeptChunks, KeptBytes uint64
	// EvictedChunks, EvictedEvents and EvictedBytes went to make room for
	// newer ones; a reader that had not read them yet missed them.
	EvictedChunks, EvictedEvents, EvictedBytes uint64
	// OversizedEvents were left out because one event alone was larger
	// than the ring's budget (a warn line stands in for each).
	OversizedEvents uint64
}

// Add adds the receiver's counters to t, e.g. to sum the rings of a node.
func (s Stats) Add(t Stats) Stats {
	return Stats{
		Batches: s.Batches + t.Batches, Events: s.Events + t.Events, Bytes: s.Bytes + t.Bytes,
		KeptChunks: s.KeptChunks + t.KeptChunks, KeptBytes: s.KeptBytes + t.KeptBytes,
		EvictedChunks: s.EvictedChunks + t.EvictedChunks, EvictedEvents: s.EvictedEvents + t.EvictedEvents,
		EvictedBytes: s.EvictedBytes + t.EvictedBytes, OversizedEvents: s.OversizedEvents + t.OversizedEvents,
	}
}

// Ring keeps the latest chunks of one run of a trace within a byte
// budget. It is safe for concurrent use: one writer (Add) and any number
// of readers (Since).
type Ring struct {
	cfg   Config
	token string

	mu     sync.Mutex
	chunks []Chunk // oldest first, from index head
	head   int
	kept   int // bytes of Data in chunks[head:]
	seq    uint64
	stats  Stats
	next   chan struct{}
	ended  bool
}

// New returns an empty ring for one run whose stream token is token (the
// stream server checks it; the ring only keeps it).
func New(token string, cfg Config) *Ring {
	if cfg.Bytes <= 0 {
		cfg.Bytes = DefaultBytes
	}
	cfg.Bytes = max(cfg.Bytes, minBytes)
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = DefaultChunkBytes
	}
	cfg.ChunkBytes = min(cfg.ChunkBytes, cfg.Bytes)
	return &Ring{cfg: cfg, token: token, next: make(chan struct{})}
}

// Token returns the stream token of the ring's run.
func (r *Ring) Token() string { return r.token }

// Budget returns the ring's byte budget.
func (r *Ring) Budget() int { return r.cfg.Bytes }

// Add keeps one batch, encoded as JSON: an array is kept one element per
// line, any other value as one line. It evicts the oldest chunks to stay
// within the budget, and wakes the readers waiting on Since's channel.
// An element larger than the whole budget is replaced by a warn line.
// It fails only on invalid JSON, keeping nothing.
func (r *Ring) Add(batch json.RawMessage) error {
	lines, err := splitLines(batch)
	if err != nil {
		return fmt.Errorf("stream buffer: batch is not valid JSON: %w", err)
	}
	var oversized uint64
	for i, l := range lines {
		if len(l)+1 > r.cfg.Bytes {
			oversized++
			lines[i] = WarnLine(fmt.Sprintf("stream: an event of %d bytes was left out: it is larger than the agent's stream buffer of %d bytes per trace (gadgetd --stream-bytes)", len(l), r.cfg.Bytes))
		}
	}
	// Chunks of at most ChunkBytes, at line boundaries (a longer line is
	// a chunk of its own).
	var parts [][]byte
	var counts []int
	var cur bytes.Buffer
	n := 0
	for _, l := range lines {
		if cur.Len() > 0 && cur.Len()+len(l)+1 > r.cfg.ChunkBytes {
			parts, counts = append(parts, bytes.Clone(cur.Bytes())), append(counts, n)
			cur.Reset()
			n = 0
		}
		cur.Write(l)
		cur.WriteByte('\n')
		n++
	}
	if cur.Len() > 0 || len(parts) == 0 {
		parts, counts = append(parts, bytes.Clone(cur.Bytes())), append(counts, n)
	}

	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return nil
	}
	r.stats.Batches++
	r.stats.OversizedEvents += oversized
	batch0 := r.stats.Batches
	for i, p := range parts {
		for r.kept+len(p) > r.cfg.Bytes && r.head < len(r.chunks) {
			r.evictLocked()
		}
		r.seq++
		r.chunks = append(r.chunks, Chunk{
			Seq: r.seq, Batch: batch0, Part: i, Last: i == len(parts)-1, Time: now, Events: counts[i],
			Offset: r.stats.Bytes, EventOffset: r.stats.Events, Data: p,
		})
		r.kept += len(p)
		r.stats.Bytes += uint64(len(p))
		r.stats.Events += uint64(counts[i])
	}
	close(r.next)
	r.next = make(chan struct{})
	return nil
}

// evictLocked drops the oldest chunk. r.mu is held.
func (r *Ring) evictLocked() {
	c := r.chunks[r.head]
	r.chunks[r.head] = Chunk{}
	r.head++
	r.kept -= len(c.Data)
	r.stats.EvictedChunks++
	r.stats.EvictedEvents += uint64(c.Events)
	r.stats.EvictedBytes += uint64(len(c.Data))
	if r.head > 64 && r.head*2 > len(r.chunks) {
		r.chunks = append([]Chunk(nil), r.chunks[r.head:]...)
		r.head = 0
	}
}

// Since returns the kept chunks whose Seq is greater than after, oldest
// first, as many as fit in maxBytes (at least one when there is one; 0
// means no limit), and a channel closed when a chunk is added or the run
// ends. The caller must not modify the chunks' Data.
func (r *Ring) Since(after uint64, maxBytes int) ([]Chunk, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := r.chunks[r.head:]
	if len(live) == 0 {
		return nil, r.next
	}
	i := 0
	if after >= live[0].Seq {
		i = int(min(after-live[0].Seq+1, uint64(len(live))))
	}
	var out []Chunk
	size := 0
	for _, c := range live[i:] {
		if len(out) > 0 && maxBytes > 0 && size+len(c.Data) > maxBytes {
			break
		}
		out = append(out, c)
		size += len(c.Data)
	}
	return out, r.next
}

// End ends the run: the readers are woken for good and Add keeps nothing
// more. It is safe to call more than once.
func (r *Ring) End() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ended {
		r.ended = true
		close(r.next)
	}
}

// Ended reports whether End was called.
func (r *Ring) Ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended
}

// Stats returns the ring's counters.
func (r *Ring) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.KeptChunks, s.KeptBytes = uint64(len(r.chunks)-r.head), uint64(r.kept)
	return s
}

// splitLines returns the elements of a JSON array, compacted, or the
// single JSON value data.
func splitLines(data json.RawMessage) ([][]byte, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return nil, err
		}
		out := make([][]byte, len(elems))
		for i, e := range elems {
			out[i] = compact(e)
		}
		return out, nil
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("%d bytes starting %q", len(data), data[:min(len(data), 16)])
	}
	return [][]byte{compact(data)}, nil
}

// compact returns v without insignificant space (v is valid JSON).
func compact(v []byte) []byte {
	if !bytes.ContainsAny(v, " \t\r\n") {
		return v
	}
	var b bytes.Buffer
	_ = json.Compact(&b, v)
	return b.Bytes()
}

// WarnLine returns the JSON line (without '\n') of a warn event carrying
// message, as the readers of a stream receive it:
// {"type":"warn","message":"..."}.
func WarnLine(message string) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}{"warn", message})
	return b
}
