// Package streamhttp serves the events of the traces that run in the
// Stream output mode on a node agent, over HTTP, as newline-delimited JSON:
// one event per line, flushed batch by batch, for as long as the trace
// runs.
//
// The agent listens on its pod's address only; users reach it through the
// Kubernetes API server's pods/proxy subresource (which `kubectl gadget`
// uses), so no Service, ingress or extra port exposure is needed:
//
//	GET /api/v1/namespaces/gadget/pods/<agent-pod>:<port>/proxy/v1/streams/<namespace>/<trace>
//	X-Gadget-Stream-Token: <the Trace's status.streamToken>
//
// Every request must carry the token of the trace's current run, which
// the agent writes to the Trace's status.streamToken: whoever may get the
// Trace may read its stream, and pods/proxy alone gives nothing. The token
// travels in its own header (TokenHeader) because the API server removes
// the Authorization header of a request it has authenticated before it
// proxies it. A request without a token is answered 401 Unauthorized; a
// wrong token and a trace that does not stream here are both answered 403
// Forbidden with the same message, so that the answer tells nobody which
// traces exist. Tokens are compared in constant time and never logged.
//
// Readers never slow the gadget down, and no reader or trace can make
// the agent's memory grow without bound:
//
//   - the agent keeps the latest events of each trace in a buffer of a
//     fixed byte budget (gadgetd --stream-bytes, 8 MiB by default), in
//     chunks of at most 64 KiB, however large the batches are;
//   - a reader takes at most Server.ReaderBytes (256 KiB) of it at a time,
//     so a reader that does not read pins no more than that;
//   - a write of a chunk that does not complete within Server.WriteTimeout
//     (gadgetd --stream-write-timeout, 30s) ends the reader's stream;
//   - a trace has at most Server.MaxReaders readers at once (gadgetd
//     --stream-max-readers, 64); the next is answered 429 Too Many
//     Requests.
//
// A reader that falls behind by more than the buffer loses the oldest
// events; it is told so in its stream, at the point of the loss, by a warn
// event such as
// `{"type":"warn","message":"stream: missed 3 batches (1200 events, 301412 bytes): ..."}`,
// and the losses are counted in Stats and in the agent's log.
package streamhttp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/framework/controller"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/streamhttp/wire"
)

// Defaults of Server's limits.
const (
	// DefaultMaxReaders is how many readers may follow one trace at once.
	DefaultMaxReaders = 64
	// DefaultWriteTimeout bounds one write to a reader.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultReaderBytes is how much of a trace's buffer one reader takes
	// at a time.
	DefaultReaderBytes = 256 << 10
)

// Server is the HTTP handler of the streams. Its zero value is not usable:
// set Streams. Its methods are safe for concurrent use.
type Server struct {
	// Streams gives the buffers of the traces.
	Streams controller.Streams
	// Logger receives one line per reader; nil discards.
	Logger *slog.Logger
	// MaxReaders bounds the readers of one trace at once; 0 means
	// DefaultMaxReaders.
	MaxReaders int
	// WriteTimeout bounds each write to a reader: a reader that takes
	// longer to accept its data is disconnected. 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ReaderBytes bounds what one reader takes from the buffer at a time
	// (at least one chunk); 0 means DefaultReaderBytes.
	ReaderBytes int
	// Metrics, when set, counts the connected readers and the batches
	// they missed.
	Metrics *metrics.Set

	mu      sync.Mutex
	readers map[*streambuf.Ring]int
	stats   Stats
}

// Stats are the stream server's counters since it started.
type Stats struct {
	// Readers is the number of readers connected now.
	Readers int
	// ReadersRefused counts the readers answered 429: the trace had
	// MaxReaders already.
	ReadersRefused uint64
	// WriteTimeouts counts the readers disconnected because a write took
	// longer than WriteTimeout.
	WriteTimeouts uint64
	// MissedBatches, MissedEvents and MissedBytes sum what readers missed
	// because they fell behind the buffer (as told in their warn events;
	// a reader resuming after a chunk no longer kept adds to
	// MissedChunks only).
	MissedBatches, MissedEvents, MissedBytes, MissedChunks uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// join counts a new reader of ring, unless it has MaxReaders already.
func (s *Server) join(ring *streambuf.Ring) (leave func(), ok bool) {
	limit := s.MaxReaders
	if limit <= 0 {
		limit = DefaultMaxReaders
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readers == nil {
		s.readers = map[*streambuf.Ring]int{}
	}
	if s.readers[ring] >= limit {
		s.stats.ReadersRefused++
		s.Metrics.StreamRefused()
		return nil, false
	}
	s.readers[ring]++
	s.stats.Readers++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stats.Readers--
		if s.readers[ring]--; s.readers[ring] <= 0 {
			delete(s.readers, ring)
		}
	}, true
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// PathPrefix, MediaType and TokenHeader are the stream's interface
// (package wire, which clients import).
const (
	PathPrefix  = wire.PathPrefix
	MediaType   = wire.MediaType
	TokenHeader = wire.TokenHeader
)

// The answers to a request without a valid token; the 403 one is the same
// for a wrong token and for a trace that does not stream here.
const (
	msgNoToken = "no stream token: send the Trace's status.streamToken in the " + TokenHeader + " header (kubectl gadget network-graph stream does)"
	msgDenied  = "forbidden: this token opens no stream on this node: read the current status.streamToken of the Trace (it changes each time the trace starts)"
)

// tokenMatches compares a stream token sent by a reader with the one of
// the trace's run, in constant time.
func tokenMatches(sent, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(sent), []byte(want)) == 1
}

// Handler returns the HTTP handler: GET PathPrefix+{namespace}/{name}
// with the trace's token in TokenHeader streams a trace (query parameter
// after=SEQ resumes after a batch; follow=false returns the batches kept
// now and ends), GET /healthz answers ok.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathPrefix+"{namespace}/{name}", s.serveStream)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	given := r.Header.Get(TokenHeader)
	if given == "" {
		http.Error(w, msgNoToken, http.StatusUnauthorized)
		return
	}
	var cur streambuf.Cursor
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("query parameter after=%q: want a chunk sequence number, e.g. after=0", v), http.StatusBadRequest)
			return
		}
		cur = streambuf.ResumeAfter(n)
	}
	follow := true
	if v := r.URL.Query().Get("follow"); v != "" {
		f, err := strconv.ParseBool(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("query parameter follow=%q: want true or false", v), http.StatusBadRequest)
			return
		}
		follow = f
	}
	ring, ok := s.Streams.Stream(key)
	if !ok || !tokenMatches(given, ring.Token()) {
		s.log().Info("stream request refused: no stream with this token", "trace", key.String(), "remote", r.RemoteAddr)
		http.Error(w, msgDenied, http.StatusForbidden)
		return
	}
	log := s.log().With("trace", key.String(), "remote", r.RemoteAddr)
	leave, ok := s.join(ring)
	if !ok {
		log.Warn("stream reader refused: too many readers")
		http.Error(w, fmt.Sprintf("too many readers: trace %s has %d stream readers already, the agent's limit "+
			"(gadgetd --stream-max-readers); close one, or read status.output with outputMode Status", key, s.maxReaders()),
			http.StatusTooManyRequests)
		return
	}
	defer leave()
	log.Info("stream reader connected")
	s.Metrics.StreamReader(1)
	defer s.Metrics.StreamReader(-1)
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	timeout := s.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	readerBytes := s.ReaderBytes
	if readerBytes <= 0 {
		readerBytes = DefaultReaderBytes
	}
	var sent, missedEvents uint64
	defer func() { log.Info("stream reader done", "events", sent, "missed_events", missedEvents) }()
	fail := func(err error) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.count(func(st *Stats) { st.WriteTimeouts++ })
			s.Metrics.StreamWriteTimeout()
			log.Warn("stream reader disconnected: a write took longer than the write timeout", "timeout", timeout)
			return
		}
		log.Debug("stream reader gone", "err", err)
	}
	for {
		chunks, next := ring.Since(cur.Seq(), readerBytes)
		for _, c := range chunks {
			// A deadline per chunk (64 KiB at most): a reader is cut off
			// when it accepts nothing for the timeout, not when it is
			// slow to drain what the socket buffers hold.
			_ = rc.SetWriteDeadline(time.Now().Add(timeout))
			if g, missed := cur.Advance(c); missed {
				missedEvents += g.Events
				s.count(func(st *Stats) {
					st.MissedBatches += g.Batches
					st.MissedEvents += g.Events
					st.MissedBytes += g.Bytes
					st.MissedChunks += g.Chunks
				})
				s.Metrics.StreamDropped(g.Batches)
				log.Warn("stream reader too slow: events missed", "batches", g.Batches, "events", g.Events, "bytes", g.Bytes)
				if err := writeLine(w, missedWarning(g, ring.Budget())); err != nil {
					fail(err)
					return
				}
			}
			if _, err := w.Write(c.Data); err != nil {
				fail(err)
				return
			}
			sent += uint64(c.Events)
		}
		if len(chunks) > 0 {
			if err := rc.Flush(); err != nil {
				fail(err)
				return
			}
			continue // more may be kept beyond this reader's share
		}
		if !follow {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-next:
		}
		now, ok := s.Streams.Stream(key)
		if !ok || now != ring {
			return // the run is over (a new run has a new buffer and token)
		}
		if ring.Ended() {
			if more, _ := ring.Since(cur.Seq(), 1); len(more) == 0 {
				return
			}
		}
	}
}

func (s *Server) maxReaders() int {
	if s.MaxReaders <= 0 {
		return DefaultMaxReaders
	}
	return s.MaxReaders
}

func writeLine(w http.ResponseWriter, line []byte) error {
	if _, err := w.Write(line); err != nil {
		return err
	}
	_, err := w.Write([]byte{'\n'})
	return err
}

// missedWarning is the warn event telling a reader what it missed.
func missedWarning(g streambuf.Gap, budget int) []byte {
	what := fmt.Sprintf("%d chunks", g.Chunks)
	if g.Exact {
		what = fmt.Sprintf("%d batches (%d events, %d bytes)", g.Batches, g.Events, g.Bytes)
	}
	return streambuf.WarnLine(fmt.Sprintf("stream: missed %s: this reader fell behind the agent's buffer of %d bytes "+
		"for this trace (gadgetd --stream-bytes); read faster, or use outputMode Status", what, budget))
}

// ListenAndServe serves h on addr until ctx ends, then shuts down within
// five seconds.
func ListenAndServe(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("stream server on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("stream server shutdown: %w", err)
	}
	<-errc
	return nil
}
