package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DefaultMaxStatusOutput bounds status.output in the Status output mode:
// 64 KiB keeps a Trace well below the API server's object size limit.
const DefaultMaxStatusOutput = 64 << 10

// statusRenderFactor bounds what the agent keeps of a Status run's
// rendered result, before it cuts it to MaxStatusOutput: 16 times that
// (1 MiB by default), so that a formatter writing much (a streaming
// plugin formatter writes every batch) costs no more.
const statusRenderFactor = 16

// cappedBuffer keeps the first limit bytes written to it and counts the
// rest; writing never fails.
type cappedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.limit - c.buf.Len()
	if room >= len(p) {
		return c.buf.Write(p)
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// boundOutput fits the rendered final result raw into limit bytes; lost
// bytes of it were not kept (raw is its beginning). A result that fits
// is returned as it is. A larger JSON array is cut to its first elements,
// compacted, so that it stays a valid JSON array; the warning says how
// many were left out. A larger result that is not a JSON array is
// dropped with a warning.
func boundOutput(raw []byte, limit int, lost int64) (output, warning string) {
	raw = bytes.TrimSpace(raw)
	if lost == 0 && len(raw) <= limit {
		return string(raw), ""
	}
	size := fmt.Sprintf("%d bytes", int64(len(raw))+lost)
	if lost > 0 {
		size = "more than " + size
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return "", fmt.Sprintf("status.output left empty: the result is %s, more than the %d-byte limit, "+
			"and is not a JSON array that could be cut; use outputMode Stream for the full result", size, limit)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	kept, total, full := 0, 0, false
	for dec.More() {
		var e json.RawMessage
		if err := dec.Decode(&e); err != nil {
			break // the end of what was kept
		}
		total++
		if full {
			continue
		}
		var c bytes.Buffer
		if err := json.Compact(&c, e); err != nil {
			break // Decode accepted it; cannot happen
		}
		sep := 0
		if kept > 0 {
			sep = 1
		}
		if b.Len()+sep+c.Len()+1 > limit {
			full = true
			continue
		}
		if kept > 0 {
			b.WriteByte(',')
		}
		b.Write(c.Bytes())
		kept++
	}
	b.WriteByte(']')
	if lost > 0 {
		return b.String(), fmt.Sprintf("status.output truncated to the first %d edges (at least %d more left out): the result is %s, "+
			"more than the agent keeps, and the limit is %d bytes; use outputMode Stream for the full result", kept, total-kept, size, limit)
	}
	return b.String(), fmt.Sprintf("status.output truncated to the first %d of %d edges (%d edges left out) "+
		"to stay within %d bytes; use outputMode Stream for the full result", kept, total, total-kept, limit)
}
