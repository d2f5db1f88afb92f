package streamhttp_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/streamhttp"
)

// ring is the Streams of one trace, demo/graph, whose buffer keeps
// the latest bytes.
type ring struct {
	mu    sync.Mutex
	bytes int
	buf   *streambuf.Ring
}

// testToken is the stream token of the ring's trace, demo/graph.
const testToken = "c2VjcmV0LXRva2VuLW9mLWRlbW8tZ3JhcGgtMjU2LWJpdHM"

func newRing(bytes int) *ring {
	return &ring{bytes: bytes, buf: streambuf.New(testToken, streambuf.Config{Bytes: bytes, ChunkBytes: 64})}
}

// restart makes a new run of the trace, with a new token.
func (r *ring) restart(token string) {
	r.mu.Lock()
	old := r.buf
	r.buf = streambuf.New(token, streambuf.Config{Bytes: r.bytes})
	r.mu.Unlock()
	old.End()
}

func (r *ring) current() *streambuf.Ring {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf
}

func (r *ring) add(events ...string) {
	if err := r.current().Add(json.RawMessage("[" + strings.Join(events, ",") + "]")); err != nil {
		panic(err)
	}
}

func (r *ring) end() { r.current().End() }

func (r *ring) Stream(key types.NamespacedName) (*streambuf.Ring, bool) {
	if key.String() != "demo/graph" {
		return nil, false
	}
	return r.current(), true
}

// get requests path with the trace's token.
func get(t *testing.T, srv *httptest.Server, path string) *http.Response {
	t.Helper()
	return getWithToken(t, srv, path, testToken)
}

// getWithToken requests path with token in the token header; "" sends none.
func getWithToken(t *testing.T, srv *httptest.Server, path, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(streamhttp.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func edge(n int) string { return fmt.Sprintf(`{"pod":"p","port":%d}`, n) }

func TestStreamLinesAndEnd(t *testing.T) {
	r := newRing(4096)
	r.add(edge(1), edge(2))
	srv := httptest.NewServer((&streamhttp.Server{Streams: r}).Handler())
	defer srv.Close()

	var readers []*bufio.Scanner
	for range 3 { // several readers at once
		resp := get(t, srv, streamhttp.PathPrefix+"demo/graph")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != streamhttp.MediaType {
			t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		readers = append(readers, bufio.NewScanner(resp.Body))
	}
	for i, sc := range readers {
		for _, want := range []string{edge(1), edge(2)} {
			if !sc.Scan() || sc.Text() != want {
				t.Fatalf("reader %d: line %q, want %q (err %v)", i, sc.Text(), want, sc.Err())
			}
		}
	}
	r.add(edge(3))
	for i, sc := range readers {
		if !sc.Scan() || sc.Text() != edge(3) {
			t.Fatalf("reader %d: line %q after a new batch, want %q", i, sc.Text(), edge(3))
		}
	}
	r.end()
	for i, sc := range readers {
		if sc.Scan() {
			t.Fatalf("reader %d: line %q after the end of the trace", i, sc.Text())
		}
	}
}

func TestStreamSlowReaderIsToldOfDrops(t *testing.T) {
	// Chunks of one edge (64 bytes at most); the ring keeps 4 KiB of them.
	r := newRing(4096)
	n := 4096/(len(edge(100))+1) + 50
	for i := 1; i <= n; i++ {
		r.add(edge(i))
	}
	first, _ := r.current().Since(0, 0)
	evicted := first[0].Seq - 1
	prom := prometheus.NewRegistry()
	set, err := metrics.New(prom, nil, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&streamhttp.Server{Streams: r, Metrics: set}).Handler())
	defer srv.Close()
	// Resuming after chunk 1: chunks 2 to evicted are gone.
	resp := get(t, srv, streamhttp.PathPrefix+"demo/graph?after=1")
	sc := bufio.NewScanner(resp.Body)
	want := fmt.Sprintf("missed %d chunks", evicted-1)
	if !sc.Scan() || !strings.Contains(sc.Text(), `"type":"warn"`) || !strings.Contains(sc.Text(), want) {
		t.Fatalf("first line %q, want a warn event saying %q", sc.Text(), want)
	}
	for i := int(evicted) + 1; i <= n; i++ {
		if !sc.Scan() || sc.Text() != edge(i) {
			t.Fatalf("line %q, want %q", sc.Text(), edge(i))
		}
	}
	f := metricstest.Gather(t, prom)
	if v, _ := f.Value("gadget_stream_readers", nil); v != 1 {
		t.Errorf("gadget_stream_readers = %v with one reader connected, want 1", v)
	}
	done := make(chan struct{})
	go func() { defer close(done); r.end() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ending the trace blocked on a reader")
	}
	// The reader's request ends with the trace.
	_, _ = io.Copy(io.Discard, resp.Body)
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := metricstest.Gather(t, prom).Value("gadget_stream_readers", nil)
		if v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gadget_stream_readers = %v after the stream ended, want 0", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStreamNoFollow(t *testing.T) {
	r := newRing(4096)
	r.add(edge(1))
	r.add(edge(2))
	srv := httptest.NewServer((&streamhttp.Server{Streams: r}).Handler())
	defer srv.Close()
	resp := get(t, srv, streamhttp.PathPrefix+"demo/graph?follow=false")
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if strings.Join(lines, "\n") != edge(1)+"\n"+edge(2) {
		t.Errorf("follow=false gave %q, want the two kept edges and the end", lines)
	}
}

func TestStreamErrors(t *testing.T) {
	srv := httptest.NewServer((&streamhttp.Server{Streams: newRing(4096)}).Handler())
	defer srv.Close()
	tests := []struct {
		path string
		code int
		want string
	}{
		{streamhttp.PathPrefix + "demo/graph?after=x", 400, "after="},
		{streamhttp.PathPrefix + "demo/graph?follow=maybe", 400, "follow="},
		{"/healthz", 200, "ok"},
	}
	for _, tt := range tests {
		resp := get(t, srv, tt.path)
		sc := bufio.NewScanner(resp.Body)
		sc.Scan()
		if resp.StatusCode != tt.code || !strings.Contains(sc.Text(), tt.want) {
			t.Errorf("GET %s: %d %q, want %d and %q", tt.path, resp.StatusCode, sc.Text(), tt.code, tt.want)
		}
	}
}

// TestStreamToken checks who is served: no token is 401; a wrong token and
// a trace that does not stream here are the same 403, so that the answer
// reveals no trace; the right token is 200; and a reader is cut off when
// the trace starts a new run, whose token differs.
func TestStreamToken(t *testing.T) {
	r := newRing(4096)
	r.add(edge(1))
	var logs strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(p)
	}), nil))
	srv := httptest.NewServer((&streamhttp.Server{Streams: r, Logger: log}).Handler())
	defer srv.Close()

	body := func(resp *http.Response) string {
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	path := streamhttp.PathPrefix + "demo/graph?follow=false"
	resp := getWithToken(t, srv, path, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(resp), streamhttp.TokenHeader) {
		t.Errorf("no token: %d, want 401 naming the header", resp.StatusCode)
	}
	// Authorization is not the token header: the API server strips it.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token in Authorization: %v %v, want 401", resp.StatusCode, err)
	}

	wrong := getWithToken(t, srv, path, testToken[:len(testToken)-1]+"X")
	wrongBody := body(wrong)
	missing := getWithToken(t, srv, streamhttp.PathPrefix+"demo/other?follow=false", testToken)
	missingBody := body(missing)
	if wrong.StatusCode != http.StatusForbidden || missing.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: %d, unknown trace: %d; want 403 for both", wrong.StatusCode, missing.StatusCode)
	}
	if wrongBody != missingBody {
		t.Errorf("a wrong token and an unknown trace are told apart:\n%q\n%q", wrongBody, missingBody)
	}
	for _, tok := range []string{testToken + "x", testToken[:10], "-" + testToken} {
		if resp := getWithToken(t, srv, path, tok); resp.StatusCode != http.StatusForbidden {
			t.Errorf("token %q: %d, want 403", tok, resp.StatusCode)
		}
	}

	ok := getWithToken(t, srv, path, testToken)
	if got := strings.TrimSpace(body(ok)); ok.StatusCode != http.StatusOK || got != edge(1) {
		t.Errorf("right token: %d %q, want 200 and the kept edge", ok.StatusCode, got)
	}

	// A follower of the old run ends when the trace starts again.
	follow := getWithToken(t, srv, streamhttp.PathPrefix+"demo/graph", testToken)
	sc := bufio.NewScanner(follow.Body)
	if !sc.Scan() || sc.Text() != edge(1) {
		t.Fatalf("follower: first line %q, want %q", sc.Text(), edge(1))
	}
	r.restart("bmV3LXJ1bi1uZXctdG9rZW4")
	r.add(edge(2))
	if sc.Scan() {
		t.Errorf("follower of the old run read %q from the new run", sc.Text())
	}
	if resp := getWithToken(t, srv, path, testToken); resp.StatusCode != http.StatusForbidden {
		t.Errorf("old token after a restart: %d, want 403", resp.StatusCode)
	}

	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), testToken[:16]) {
		t.Errorf("a token appears in the server's log:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
