package streambuf

// Cursor is where one reader is in a ring's run: what it read last.
type Cursor struct {
	seq      uint64
	batch    uint64
	last     bool   // the chunk read last ended its batch
	end      uint64 // bytes of the run up to the end of that chunk
	eventEnd uint64
	known    bool // the fields above come from a chunk read
}

// ResumeAfter returns the cursor of a reader that read the chunks up to
// seq in an earlier connection (what it read is not known here, only
// where it stopped).
func ResumeAfter(seq uint64) Cursor { return Cursor{seq: seq} }

// Seq is the Seq of the chunk read last (0: none); pass it to Ring.Since.
func (c *Cursor) Seq() uint64 { return c.seq }

// Gap is what a reader missed between two chunks it read.
type Gap struct {
	// Chunks, Batches, Events and Bytes were missed; Batches counts the
	// batches of which at least one chunk was missed.
	Chunks, Batches, Events, Bytes uint64
	// Exact is false when the reader resumed after a chunk the ring no
	// longer had: only Chunks is known then.
	Exact bool
}

// Advance moves the cursor to ch, the next chunk the reader reads, and
// returns what it missed before ch; ok is false when it missed nothing.
// A fresh cursor (the zero value) misses nothing: it starts at ch.
func (c *Cursor) Advance(ch Chunk) (g Gap, ok bool) {
	fresh := c.seq == 0 && !c.known
	if !fresh && ch.Seq > c.seq+1 {
		g.Chunks = ch.Seq - c.seq - 1
		if c.known {
			g.Exact = true
			g.Bytes = ch.Offset - c.end
			g.Events = ch.EventOffset - c.eventEnd
			first := c.batch + 1 // the batch of chunk c.seq+1
			if !c.last {
				first = c.batch
			}
			lastMissed := ch.Batch // the batch of chunk ch.Seq-1
			if ch.Part == 0 {
				lastMissed = ch.Batch - 1
			}
			if lastMissed >= first {
				g.Batches = lastMissed - first + 1
			}
		}
		ok = true
	}
	c.seq, c.batch, c.last = ch.Seq, ch.Batch, ch.Last
	c.end, c.eventEnd, c.known = ch.Offset+uint64(len(ch.Data)), ch.EventOffset+uint64(ch.Events), true
	return g, ok
}
