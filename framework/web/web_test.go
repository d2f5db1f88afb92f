package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

type base struct {
	Type string `json:"type,omitempty"`
	Node string `json:"node,omitempty"`
}

type edge struct {
	base
	Proto   string `json:"proto,omitempty"`
	Port    int    `json:"port"`
	Hidden  string `json:"-"`
	NoTag   string
	private int // unexported: left out
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		batch any
		want  []string
	}{
		{"slice of structs, embedded inlined", []edge{}, []string{"type", "node", "proto", "port", "NoTag"}},
		{"slice of pointers", []*edge{}, []string{"type", "node", "proto", "port", "NoTag"}},
		{"one struct", edge{private: 1}, []string{"type", "node", "proto", "port", "NoTag"}},
		{"maps have no declared fields", []map[string]any{}, nil},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fields(tt.batch); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Fields = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejectsHandlersOnThePagesPaths(t *testing.T) {
	h := http.NotFoundHandler()
	for _, pattern := range []string{"GET /", "/api/x", "GET /api/events"} {
		if _, err := New(Config{Handlers: map[string]http.Handler{pattern: h}}); err == nil {
			t.Errorf("New with handler %q: no error", pattern)
		}
	}
	if _, err := New(Config{Handlers: map[string]http.Handler{"GET /metrics": h}}); err != nil {
		t.Errorf("New with GET /metrics: %v", err)
	}
}

// sse reads Server-Sent Events from an open stream.
type sse struct {
	t  *testing.T
	sc *bufio.Scanner
}

type sseEvent struct{ id, name, data string }

func (s *sse) next() sseEvent {
	s.t.Helper()
	var ev sseEvent
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				return ev
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
	s.t.Fatalf("stream ended: %v", s.sc.Err())
	return ev
}

func open(t *testing.T, srv *httptest.Server, lastID string) (*sse, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return &sse{t: t, sc: bufio.NewScanner(resp.Body)}, func() { cancel(); resp.Body.Close() }
}

func TestStreamReplaysAndFollows(t *testing.T) {
	s, err := New(Config{Gadget: "test", Interval: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	if err := s.Publish([]edge{{Proto: "tcp", Port: 80}}); err != nil {
		t.Fatal(err)
	}
	s.Warn("map full")
	st, closeStream := open(t, srv, "")
	defer closeStream()

	info := st.next()
	var got struct {
		Gadget     string   `json:"gadget"`
		IntervalMs int64    `json:"intervalMs"`
		Fields     []string `json:"fields"`
	}
	if err := json.Unmarshal([]byte(info.data), &got); err != nil || info.name != "info" {
		t.Fatalf("first event %+v: %v", info, err)
	}
	if got.Gadget != "test" || got.IntervalMs != 2000 || !reflect.DeepEqual(got.Fields, []string{"type", "node", "proto", "port", "NoTag"}) {
		t.Errorf("info = %+v", got)
	}
	if w := st.next(); w.name != "warning" || !strings.Contains(w.data, "map full") {
		t.Errorf("second event = %+v, want the warning", w)
	}
	b := st.next()
	if b.name != "batch" || b.id != "1" || !strings.Contains(b.data, `"events":[{"proto":"tcp","port":80,"NoTag":""}]`) {
		t.Errorf("replayed batch = %+v", b)
	}
	// A live batch; a single value becomes a one-element array.
	if err := s.Publish(map[string]int{"port": 53}); err != nil {
		t.Fatal(err)
	}
	if b := st.next(); b.id != "2" || !strings.Contains(b.data, `"events":[{"port":53}]`) {
		t.Errorf("live batch = %+v", b)
	}

	// A reconnecting page resumes after its last batch.
	st2, close2 := open(t, srv, "1")
	defer close2()
	st2.next() // info
	st2.next() // warning
	if b := st2.next(); b.id != "2" {
		t.Errorf("resumed stream starts at batch %s, want 2", b.id)
	}
}

func TestHistoryBudgetAndSlowPages(t *testing.T) {
	s, err := New(Config{Gadget: "test", HistoryBytes: 400})
	if err != nil {
		t.Fatal(err)
	}
	// A page that has read nothing yet while ten batches came: the first
	// ones left the 400-byte history; it is sent the info event, then
	// told what it missed, then the batches kept.
	var c cursor
	for i := range 10 {
		if err := s.Publish([]edge{{Proto: "udp", Port: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if s.evicted == 0 || s.size > 400 {
		t.Fatalf("history: %d bytes kept, %d evicted; want ≤ 400 kept and some evicted", s.size, s.evicted)
	}
	out, lost, more, _ := s.nextLocked(&c)
	if lost != s.evicted || more || c.seq != 10 {
		t.Errorf("slow page: lost %d (want %d), more %v, at batch %d (want 10)", lost, s.evicted, more, c.seq)
	}
	if len(out) != 1+len(s.history) || !strings.Contains(string(out[0]), "event: info") {
		t.Errorf("slow page is sent %d events, want the info event and the %d batches kept", len(out), len(s.history))
	}
	// Up to date: nothing more, and a later batch comes alone.
	if out, lost, _, _ := s.nextLocked(&c); len(out) != 0 || lost != 0 {
		t.Errorf("page up to date: sent %d events, lost %d; want none", len(out), lost)
	}
	if err := s.Publish([]edge{{Proto: "tcp", Port: 80}}); err != nil {
		t.Fatal(err)
	}
	s.Warn("map full")
	out, _, _, _ = s.nextLocked(&c)
	if len(out) != 2 || !strings.Contains(string(out[0]), "map full") || !strings.Contains(string(out[1]), `"port":80`) {
		t.Errorf("after a warning and a batch: %q", out)
	}

	// A late page is told about forgotten batches, and a page that
	// reconnects after batches it never got is told it missed them.
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st, closeStream := open(t, srv, "")
	defer closeStream()
	st.next() // info
	if w := st.next(); w.name != "warning" || !strings.Contains(w.data, "no longer kept") {
		t.Errorf("a late page is not told about forgotten batches: %+v", w)
	}
	before := s.Dropped()
	st2, close2 := open(t, srv, "1")
	defer close2()
	st2.next() // info
	if w := st2.next(); w.name != "warning" || !strings.Contains(w.data, "batches dropped") {
		t.Errorf("a page resuming after batch 1 is not told what it missed: %+v", w)
	}
	if got := s.Dropped() - before; got != s.evicted-1 {
		t.Errorf("Dropped grew by %d, want %d (batches 2 to %d)", got, s.evicted-1, s.evicted)
	}
}

// TestIdlePagesHoldNoBatches: memory follows the history budget, not the
// number of pages or how far behind they are. Fifty pages that do not
// read while 30 batches of about 0.6 MB come (18 MB in all, the history
// keeping 1 MiB) retain little more than the history: a page holds at
// most the batches of the write it is stuck in.
func TestIdlePagesHoldNoBatches(t *testing.T) {
	s, err := New(Config{Gadget: "test", HistoryBytes: 1 << 20, WriteTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var closers []func()
	for range 50 {
		st, c := open(t, srv, "")
		st.next() // info: connected
		closers = append(closers, c)
	}
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for b := range 30 {
		big := make([]edge, 20000)
		for i := range big {
			big[i] = edge{Proto: "udp", Port: b*100000 + i}
		}
		if err := s.Publish(big); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	grew := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("heap grew %.1f MiB (history %d KiB, %d batches evicted)", float64(grew)/(1<<20), s.size>>10, s.evicted)
	if grew > 8<<20 {
		t.Errorf("heap grew %d MiB for 50 idle pages and a 1 MiB history: the pages hold batches the history forgot", grew>>20)
	}
}

func TestPageAndAssets(t *testing.T) {
	s, err := New(Config{Handlers: map[string]http.Handler{"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "up 1\n")
	})}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/":        `<script src="app.js">`,
		"/app.js":  "Code generated by make web-assets",
		"/app.css": "#graph",
		"/metrics": "up 1",
	} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body without %q", path, resp.Status, want)
		}
	}
}
