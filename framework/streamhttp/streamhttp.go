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
// Any number of readers may follow a trace at once. Readers never slow the
// gadget down: the agent keeps the latest batches of each trace in a
// bounded buffer, and a reader that falls behind by more than that buffer
// loses the oldest batches; it is told so in its stream by a warn event
// (`{"type":"warn","message":"stream: 3 batches dropped: ..."}`), and the
// drops are counted in the agent's log.
package streamhttp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/framework/controller"
	"github.com/gadgetkit/gadget/framework/streamhttp/wire"
)

// Server is the HTTP handler of the streams. Its zero value is not usable:
// set Streams.
type Server struct {
	// Streams gives the kept batches of the traces.
	Streams controller.Streams
	// Logger receives one line per reader; nil discards.
	Logger *slog.Logger
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
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("query parameter after=%q: want a batch sequence number, e.g. after=0", v), http.StatusBadRequest)
			return
		}
		after = n
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
	batches, next, token, ok := s.Streams.Stream(key, after)
	if !ok || !tokenMatches(given, token) {
		s.log().Info("stream request refused: no stream with this token", "trace", key.String(), "remote", r.RemoteAddr)
		http.Error(w, msgDenied, http.StatusForbidden)
		return
	}
	log := s.log().With("trace", key.String(), "remote", r.RemoteAddr)
	log.Info("stream reader connected")
	w.Header().Set("Content-Type", MediaType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	// A reader resuming with after=SEQ, and every reader once it has
	// received a batch, expects the batches to follow on without a gap.
	expectNext := r.URL.Query().Has("after")
	var dropped, sent uint64
	defer func() { log.Info("stream reader done", "batches", sent, "dropped", dropped) }()
	for {
		for _, b := range batches {
			if expectNext && b.Seq > after+1 {
				gap := b.Seq - after - 1
				dropped += gap
				log.Warn("stream reader too slow: batches dropped", "dropped", gap)
				if err := writeLine(w, dropWarning(gap)); err != nil {
					return
				}
			}
			if err := writeBatch(w, b.Data); err != nil {
				log.Debug("stream reader gone", "err", err)
				return
			}
			after, expectNext = b.Seq, true
			sent++
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !follow {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-next:
		}
		batches, next, token, ok = s.Streams.Stream(key, after)
		if !ok || !tokenMatches(given, token) || (len(batches) == 0 && closed(next)) {
			return // the run is over (a new run has a new token)
		}
	}
}

// closed reports whether ch is closed, without blocking.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// writeBatch writes the events of one batch, a JSON array (or a single
// value), one per line.
func writeBatch(w http.ResponseWriter, data json.RawMessage) error {
	var events []json.RawMessage
	if err := json.Unmarshal(data, &events); err != nil {
		return writeLine(w, data)
	}
	for _, e := range events {
		if err := writeLine(w, e); err != nil {
			return err
		}
	}
	return nil
}

func writeLine(w http.ResponseWriter, line []byte) error {
	if _, err := w.Write(line); err != nil {
		return err
	}
	_, err := w.Write([]byte{'\n'})
	return err
}

// dropWarning is the warn event telling a reader it lost n batches.
func dropWarning(n uint64) []byte {
	b, _ := json.Marshal(map[string]string{
		"type":    "warn",
		"message": fmt.Sprintf("stream: %d batches dropped: this reader fell behind the agent's buffer; read faster or use outputMode Status", n),
	})
	return b
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
