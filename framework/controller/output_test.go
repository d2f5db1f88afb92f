package controller

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBoundOutput(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		limit      int
		want       string
		wantWarn   string
		wantParsed int // elements in the output, -1 to skip the check
	}{
		{name: "fits", raw: "[\n  {\"a\": 1}\n]\n", limit: 100, want: "[\n  {\"a\": 1}\n]", wantParsed: 1},
		{name: "empty array", raw: "[]\n", limit: 2, want: "[]", wantParsed: 0},
		{name: "cut", raw: `[ {"a": 1}, {"a": 2}, {"a": 3} ]`, limit: 16, want: `[{"a":1}]`,
			wantWarn: "first 1 of 3 edges (2 edges left out)", wantParsed: 1},
		{name: "cut at exact limit", raw: `[ {"a": 1}, {"a": 2}, {"a": 3} ]`, limit: 17, want: `[{"a":1},{"a":2}]`,
			wantWarn: "first 2 of 3 edges", wantParsed: 2},
		{name: "first too big", raw: `[ {"a": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} ]`, limit: 10, want: `[]`,
			wantWarn: "first 0 of 1 edges", wantParsed: 0},
		{name: "not an array", raw: `{"a": "xxxxxxxxxxxxxxxxxxxxx"}`, limit: 10, want: "",
			wantWarn: "not a JSON array", wantParsed: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warn := boundOutput([]byte(tt.raw), tt.limit, 0)
			if got != tt.want {
				t.Errorf("output = %q, want %q", got, tt.want)
			}
			if len(got) > tt.limit {
				t.Errorf("output is %d bytes, over the %d limit", len(got), tt.limit)
			}
			if (tt.wantWarn == "") != (warn == "") || !strings.Contains(warn, tt.wantWarn) {
				t.Errorf("warning = %q, want one containing %q", warn, tt.wantWarn)
			}
			if tt.wantParsed >= 0 {
				var elems []json.RawMessage
				if err := json.Unmarshal([]byte(got), &elems); err != nil {
					t.Fatalf("output is not a JSON array: %v", err)
				}
				if len(elems) != tt.wantParsed {
					t.Errorf("output has %d elements, want %d", len(elems), tt.wantParsed)
				}
			}
		})
	}
}

// TestCappedRender: a rendered result larger than what the agent keeps
// is cut to its complete first elements, and the warning says so.
func TestCappedRender(t *testing.T) {
	c := &cappedBuffer{limit: 40}
	for _, part := range []string{`[{"a":1},`, `{"a":2},{"a":3},`, `{"a":4},{"a":5},{"a":6}]`} {
		if n, err := c.Write([]byte(part)); n != len(part) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if c.buf.Len() != 40 || c.dropped != 49-40 {
		t.Fatalf("kept %d, dropped %d; want 40, 9", c.buf.Len(), c.dropped)
	}
	got, warn := boundOutput(c.buf.Bytes(), 20, c.dropped)
	if got != `[{"a":1},{"a":2}]` || !strings.Contains(warn, "first 2 edges") || !strings.Contains(warn, "more than 49 bytes") {
		t.Errorf("boundOutput = %q, %q; want the first 2 edges and a warning saying the result is more than 49 bytes", got, warn)
	}
}
