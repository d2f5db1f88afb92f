package streambuf_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/streambuf"
)

// batch returns a JSON array of n events numbered from first, each about
// size bytes.
func batch(first, n, size int) json.RawMessage {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		e := fmt.Sprintf(`{"port":%d,"pad":""}`, first+i)
		pad := max(size-len(e), 0)
		fmt.Fprintf(&b, `{"port":%d,"pad":"%s"}`, first+i, strings.Repeat("x", pad))
	}
	b.WriteByte(']')
	return json.RawMessage(b.String())
}

func lines(chunks []streambuf.Chunk) []string {
	var out []string
	for _, c := range chunks {
		out = append(out, strings.Split(strings.TrimSuffix(string(c.Data), "\n"), "\n")...)
	}
	return out
}

func TestRingLinesAndSince(t *testing.T) {
	r := streambuf.New("tok", streambuf.Config{})
	_, next := r.Since(0, 0)
	if err := r.Add(json.RawMessage(` [ {"a": 1}, {"b":2} ] `)); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(json.RawMessage(`{"single":true}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-next:
	default:
		t.Fatal("Add did not wake the readers")
	}
	got, _ := r.Since(0, 0)
	if want := []string{`{"a":1}`, `{"b":2}`, `{"single":true}`}; strings.Join(lines(got), "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", lines(got), want)
	}
	if got, _ := r.Since(1, 0); len(got) != 1 || got[0].Seq != 2 || got[0].Batch != 2 {
		t.Errorf("Since(1) = %+v, want chunk 2 of batch 2", got)
	}
	if err := r.Add(json.RawMessage(`[{"a":`)); err == nil {
		t.Error("Add of invalid JSON: no error")
	}
	if r.Token() != "tok" {
		t.Errorf("Token() = %q", r.Token())
	}
	_, next = r.Since(2, 0)
	r.End()
	r.End()
	select {
	case <-next:
	default:
		t.Fatal("End did not wake the readers")
	}
	if !r.Ended() {
		t.Error("Ended() false after End")
	}
}

// TestRingByteBudget floods a small ring: it never holds more than its
// budget, however large the batches, and counts what it evicted.
func TestRingByteBudget(t *testing.T) {
	const budget = 64 << 10
	r := streambuf.New("t", streambuf.Config{Bytes: budget, ChunkBytes: 8 << 10})
	var added uint64
	for i := range 50 {
		b := batch(i*1000, 1000, 200) // ~200 KB: more than the whole budget
		if err := r.Add(b); err != nil {
			t.Fatal(err)
		}
		added += 1000
		if s := r.Stats(); s.KeptBytes > budget {
			t.Fatalf("after batch %d: %d bytes kept, budget %d", i, s.KeptBytes, budget)
		}
	}
	s := r.Stats()
	if s.Events != added || s.Batches != 50 {
		t.Errorf("stats %+v: want %d events in 50 batches", s, added)
	}
	if s.Events-s.EvictedEvents != countEvents(r) || s.Bytes-s.EvictedBytes != s.KeptBytes {
		t.Errorf("stats %+v do not add up with %d events kept", s, countEvents(r))
	}
	if s.KeptBytes < budget/2 {
		t.Errorf("kept only %d bytes of a %d budget", s.KeptBytes, budget)
	}
	// The newest events are kept, the last one last.
	got, _ := r.Since(0, 0)
	l := lines(got)
	if !strings.HasPrefix(l[len(l)-1], `{"port":49999,`) {
		t.Errorf("last kept line %.40q, want port 49999", l[len(l)-1])
	}
	// A reader fetches at most maxBytes (and at least one chunk).
	part, _ := r.Since(0, 10<<10)
	size := 0
	for _, c := range part {
		size += len(c.Data)
		if len(c.Data) > 8<<10 {
			t.Errorf("chunk of %d bytes, ChunkBytes 8 KiB", len(c.Data))
		}
	}
	if size > 10<<10 || len(part) == 0 {
		t.Errorf("Since(0, 10 KiB) returned %d bytes in %d chunks", size, len(part))
	}
}

func countEvents(r *streambuf.Ring) uint64 {
	got, _ := r.Since(0, 0)
	return uint64(len(lines(got)))
}

func TestRingOversizedEvent(t *testing.T) {
	r := streambuf.New("t", streambuf.Config{Bytes: 4 << 10})
	if err := r.Add(batch(1, 1, 10<<10)); err != nil {
		t.Fatal(err)
	}
	got, _ := r.Since(0, 0)
	l := lines(got)
	if len(l) != 1 || !strings.Contains(l[0], `"type":"warn"`) || !strings.Contains(l[0], "--stream-bytes") {
		t.Errorf("lines %q, want one warn event naming --stream-bytes", l)
	}
	if s := r.Stats(); s.OversizedEvents != 1 {
		t.Errorf("OversizedEvents = %d, want 1", s.OversizedEvents)
	}
}

// TestCursorGap checks what a reader is told it missed.
func TestCursorGap(t *testing.T) {
	r := streambuf.New("t", streambuf.Config{Bytes: 4 << 10, ChunkBytes: 1 << 10})
	add := func(n int) {
		t.Helper()
		if err := r.Add(batch(0, n, 100)); err != nil {
			t.Fatal(err)
		}
	}
	add(5) // batch 1: one chunk of ~5*100
	var c streambuf.Cursor
	got, _ := r.Since(c.Seq(), 0)
	for _, ch := range got {
		if g, missed := c.Advance(ch); missed {
			t.Fatalf("fresh cursor missed %+v", g)
		}
	}
	// Batches 2..9 of 30 events each (~3 KB, 3 chunks each) overflow the
	// 4 KiB ring: the reader misses whole batches and part of one.
	for range 8 {
		add(30)
	}
	got, _ = r.Since(c.Seq(), 0)
	g, missed := c.Advance(got[0])
	if !missed || !g.Exact {
		t.Fatalf("gap %+v missed %v, want an exact gap", g, missed)
	}
	// The reader had read batch 1 (one chunk), evicted too.
	s := r.Stats()
	read := got[0].Offset - g.Bytes
	if g.Events != s.EvictedEvents-5 || g.Bytes != s.EvictedBytes-read || g.Chunks != s.EvictedChunks-1 {
		t.Errorf("gap %+v, want what the ring evicted after batch 1 (%d bytes): %+v", g, read, s)
	}
	wantBatches := got[0].Batch - 1 // batches 2 .. the first kept one, if it is cut
	if got[0].Part == 0 {
		wantBatches--
	}
	if g.Batches != wantBatches || g.Batches == 0 {
		t.Errorf("gap of %d batches, want %d (first kept chunk: batch %d part %d)", g.Batches, wantBatches, got[0].Batch, got[0].Part)
	}
	for _, ch := range got[1:] {
		if g, missed := c.Advance(ch); missed {
			t.Fatalf("gap %+v inside the kept chunks", g)
		}
	}
	// A resumed reader knows only the chunks it missed.
	rc := streambuf.ResumeAfter(1)
	got, _ = r.Since(rc.Seq(), 0)
	if g, missed := rc.Advance(got[0]); !missed || g.Exact || g.Chunks != got[0].Seq-2 {
		t.Errorf("resumed gap %+v missed %v, want %d chunks, not exact", g, missed, got[0].Seq-2)
	}
}
