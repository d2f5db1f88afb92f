package streamhttp

import (
	"testing"
	"time"
)

func TestTokenMatches(t *testing.T) {
	const want = "c2VjcmV0LXRva2Vu"
	tests := []struct {
		sent, want string
		ok         bool
	}{
		{want, want, true},
		{want[:len(want)-1] + "v", want, false}, // last byte differs
		{"x" + want[1:], want, false},           // first byte differs
		{want[:8], want, false},                 // a prefix
		{want + "=", want, false},               // longer
		{"", want, false},
		// A run without a token (none made yet) opens to nobody, not even
		// to an empty token.
		{"", "", false},
		{want, "", false},
	}
	for _, tt := range tests {
		if got := tokenMatches(tt.sent, tt.want); got != tt.ok {
			t.Errorf("tokenMatches(%q, %q) = %v, want %v", tt.sent, tt.want, got, tt.ok)
		}
	}
}

// TestTokenMatchesConstantTime checks that comparing does not stop at the
// first differing byte: a guess that shares a long prefix with the token
// costs as much as one that shares none. Timing tests are noisy, so it
// only fails on a gross difference (an early-exit compare differs by the
// whole length).
func TestTokenMatchesConstantTime(t *testing.T) {
	want := string(make([]byte, 1<<16))
	early := "x" + want[1:]                     // differs at byte 0
	late := want[:len(want)-1] + "x"            // differs at the last byte
	timeOf := func(sent string) time.Duration { // best of 5 rounds of 200 compares
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			for range 200 {
				tokenMatches(sent, want)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	e, l := timeOf(early), timeOf(late)
	if e*4 < l {
		t.Errorf("a mismatch at byte 0 takes %v, at the last byte %v: the compare exits early", e, l)
	}
}
