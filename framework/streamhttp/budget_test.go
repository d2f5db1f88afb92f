package streamhttp_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/streamhttp"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// flowBatch is one batch of a trace that sees n distinct flows: n edges of
// about 300 bytes of JSON each (~3 MB for 10,000).
func flowBatch(n, round int) json.RawMessage {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"normal","node":"node-a","namespace":"flood","pod":"sender-%d","pkt_type":"OUTGOING",`+
			`"proto":"udp","ip":"10.0.%d.%d","port":%d,"packets":%d,"bytes":%d,"remote_kind":"pod","remote_name":"receiver-%05d"}`,
			round, i/250, i%250, 10000+i, round+1, 64*(round+1), i)
	}
	b.WriteByte(']')
	return json.RawMessage(b.String())
}

// idleReader opens a stream and never reads it, with a tiny receive
// buffer, so that the agent's writes to it block.
func idleReader(t *testing.T, srv *httptest.Server, path string) net.Conn {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	d := net.Dialer{Control: testenv.SockoptInt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)}
	conn, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n\r\n", path, u.Host, streamhttp.TokenHeader, testToken)
	return conn
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStreamFloodIdleReaders floods one trace with 10,000 distinct flows
// per batch while 50 readers never read and one reads late: the agent's
// memory stays within the buffer's budget plus each reader's share, a
// 51st reader is refused, the idle readers are cut off by the write
// deadline, and the late reader is told exactly what it missed.
func TestStreamFloodIdleReaders(t *testing.T) {
	const (
		budget      = 8 << 20
		readerBytes = 256 << 10
		readers     = 50
		flows       = 10000
		batches     = 30 // ~90 MB in all
	)
	r := &ring{bytes: budget, buf: streambuf.New(testToken, streambuf.Config{Bytes: budget})}
	prom := prometheus.NewRegistry()
	set, err := metrics.New(prom, nil, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := &streamhttp.Server{Streams: r, MaxReaders: readers + 1, WriteTimeout: 3 * time.Second, ReaderBytes: readerBytes, Metrics: set}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	path := streamhttp.PathPrefix + "demo/graph"

	base := heapInUse()
	r.add(`{"hello":1}`)
	for range readers {
		idleReader(t, srv, path)
	}
	// The late reader reads slowly while the flood runs, 64 KiB every
	// 100 ms, so that it falls far behind the buffer but always within
	// the write deadline, however long the flood takes on a loaded
	// machine; after the flood it reads at full speed.
	late := get(t, srv, path)
	slow := &throttledReader{r: late.Body}
	slow.on.Store(true)
	sc := bufio.NewScanner(slow)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() || sc.Text() != `{"hello":1}` {
		t.Fatalf("late reader: first line %q", sc.Text())
	}
	lateDone := make(chan lateResult, 1)
	go func() {
		var res lateResult
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, `"type":"warn"`) {
				res.warn = line
				break
			}
			res.events++
		}
		res.err = sc.Err()
		lateDone <- res
	}()
	waitFor(t, "51 readers connected", func() bool { return s.Stats().Readers == readers+1 })
	if resp := get(t, srv, path); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("reader %d: status %d, want 429", readers+2, resp.StatusCode)
	} else if sc := bufio.NewScanner(resp.Body); !sc.Scan() || !strings.Contains(sc.Text(), "--stream-max-readers") {
		t.Errorf("429 message %q does not name --stream-max-readers", sc.Text())
	}

	peak := uint64(0)
	for i := range batches {
		if err := r.current().Add(flowBatch(flows, i)); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			peak = max(peak, heapInUse())
		}
	}
	// While the idle readers hold their share: the buffer, each reader's
	// share and a chunk, and the HTTP server's buffers.
	peak = max(peak, heapInUse())
	limit := base + budget + readers*(readerBytes+streambuf.DefaultChunkBytes) + 16<<20
	t.Logf("heap: %d MiB before, %d MiB peak, limit %d MiB; %d MB added to the stream", base>>20, peak>>20, limit>>20, r.current().Stats().Bytes/1e6)
	if peak > limit {
		t.Errorf("heap peaked at %d MiB, more than %d MiB", peak>>20, limit>>20)
	}

	// The late reader catches up: it is told what it missed, then gets
	// the newest events.
	slow.on.Store(false)
	res := <-lateDone
	events, warn := res.events, res.warn
	if !strings.Contains(warn, "stream: missed ") || !strings.Contains(warn, "--stream-bytes") {
		t.Fatalf("late reader: after %d events, line %q (read error: %v); want a warn event saying what it missed", events, warn, res.err)
	}
	var w struct{ Message string }
	_ = json.Unmarshal([]byte(warn), &w)
	var nb, ne, nbytes uint64
	if _, err := fmt.Sscanf(w.Message, "stream: missed %d batches (%d events, %d bytes)", &nb, &ne, &nbytes); err != nil || nb == 0 || ne == 0 {
		t.Errorf("warn %q: want missed N batches (E events, B bytes): %v", w.Message, err)
	}
	t.Logf("late reader: %d events, then %q", events, w.Message)

	// The idle readers are cut off by the write deadline.
	waitFor(t, "the idle readers cut off", func() bool { return s.Stats().WriteTimeouts >= readers })
	st := s.Stats()
	if st.ReadersRefused != 1 || st.MissedEvents < ne {
		t.Errorf("stats %+v: want 1 reader refused and at least %d events missed", st, ne)
	}
	// The metrics count what the readers were told they missed, the
	// refused reader and the readers cut off.
	f := metricstest.Gather(t, prom)
	if v, _ := f.Value("gadget_stream_batches_dropped_total", nil); v < float64(nb) || v != float64(st.MissedBatches) {
		t.Errorf("gadget_stream_batches_dropped_total = %v, want the %d batches the stats count (at least the late reader's %d)", v, st.MissedBatches, nb)
	}
	if v, _ := f.Value("gadget_stream_readers_refused_total", nil); v != 1 {
		t.Errorf("gadget_stream_readers_refused_total = %v, want 1", v)
	}
	if v, _ := f.Value("gadget_stream_write_timeouts_total", nil); v != float64(st.WriteTimeouts) || v < readers {
		t.Errorf("gadget_stream_write_timeouts_total = %v, want the stats' %d (at least %d)", v, st.WriteTimeouts, readers)
	}
	r.end()
}

// lateResult is what the late reader read up to its warn event.
type lateResult struct {
	events int
	warn   string
	err    error
}

// throttledReader reads at most 64 KiB per 100 ms while on is set.
type throttledReader struct {
	r  io.Reader
	on atomic.Bool
}

func (t *throttledReader) Read(p []byte) (int, error) {
	if t.on.Load() {
		time.Sleep(100 * time.Millisecond)
		p = p[:min(len(p), 64<<10)]
	}
	return t.r.Read(p)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
