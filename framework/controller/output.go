package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DefaultMaxStatusOutput bounds status.output in the Status output mode:
// 64 KiB keeps a Trace well below the API server's object size limit.
const DefaultMaxStatusOutput = 64 << 10

// boundOutput fits the rendered final result raw into limit bytes. A
// result that fits is returned as it is. A larger JSON array is cut to
// its first elements, compacted, so that it stays a valid JSON array; the
// warning says how many were left out. A larger result that is not a JSON
// array is dropped with a warning.
func boundOutput(raw []byte, limit int) (output, warning string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) <= limit {
		return string(raw), ""
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return "", fmt.Sprintf("status.output left empty: the result is %d bytes, more than the %d-byte limit, "+
			"and is not a JSON array that could be cut; use outputMode Stream for the full result", len(raw), limit)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	kept := 0
	for _, e := range elems {
		var c bytes.Buffer
		if err := json.Compact(&c, e); err != nil {
			break // json.Unmarshal accepted it; cannot happen
		}
		sep := 0
		if kept > 0 {
			sep = 1
		}
		if b.Len()+sep+c.Len()+1 > limit {
			break
		}
		if kept > 0 {
			b.WriteByte(',')
		}
		b.Write(c.Bytes())
		kept++
	}
	b.WriteByte(']')
	return b.String(), fmt.Sprintf("status.output truncated to the first %d of %d edges (%d edges left out) "+
		"to stay within %d bytes; use outputMode Stream for the full result", kept, len(elems), len(elems)-kept, limit)
}
