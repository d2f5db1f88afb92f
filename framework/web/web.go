// Package web serves the live web view of a trace: a page at / that draws
// the trace's batches as they come, fed by a Server-Sent Events stream at
// /api/events. The page and its script are embedded in the binary (see
// assets/ and ui/, built by make web-assets), so it needs no network at run
// time.
//
// The server is gadget-agnostic: it is handed batches (any value that
// encodes to JSON, normally a slice of a gadget's events) and sends them to
// every open page, which merges them. Events carrying the edge fields of
// network-graph (pktType, proto, ip, port) are drawn as a graph; events of
// any other gadget are listed in a table whose columns are the JSON fields
// of the batch's element type.
//
// Memory is bounded by bytes, whatever the number of pages: the batches
// are kept once, in a history of at most Config.HistoryBytes, and each
// page only remembers how far it has read. Nothing is lost silently: a
// page that reads so slowly that batches leave the history before it sent
// them is told how many it missed, in its warnings panel; pages opened
// later are told how many batches were forgotten before they came.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// Defaults of Config.
const (
	DefaultHistoryBytes = 64 << 20
	// DefaultWriteTimeout bounds one write to a page.
	DefaultWriteTimeout = 30 * time.Second
	maxWarnings         = 100
	// roundBytes is the most a page is sent in one write before it looks
	// for news again.
	roundBytes = 1 << 20
)

// Config describes the view of one trace.
type Config struct {
	// Gadget is the name of the traced gadget, shown in the page's title.
	Gadget string
	// Source says where the batches come from, e.g. "gadget run on host1"
	// or "cluster kind-dev, 3 nodes"; shown under the title.
	Source string
	// Interval is how often the gadget sends a batch; the page shows it.
	// Zero means unknown.
	Interval time.Duration
	// Handlers are extra routes served beside the page, by ServeMux
	// pattern, e.g. {"GET /metrics": promhttp.Handler()}. They must not
	// take / or /api/.
	Handlers map[string]http.Handler
	// HistoryBytes bounds the encoded batches kept for pages opened later
	// (and for pages that reconnect); the oldest go first. Zero means
	// DefaultHistoryBytes.
	HistoryBytes int
	// WriteTimeout bounds one write to a page: a page that takes longer
	// is disconnected (its EventSource reconnects and resumes). Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives one line per page and per drop; nil discards.
	Logger *slog.Logger
}

// Server keeps the batches of one trace and streams them to pages. Its
// methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu       sync.Mutex
	seq      uint64 // sequence number of the last batch
	fields   []string
	infoSeq  uint64    // bumped when the info event changes
	history  []message // batches, oldest first
	size     int       // bytes in history
	evicted  uint64    // batches forgotten for the history budget
	wseq     uint64    // sequence number of the last warning
	warnings []message // the last maxWarnings, oldest first
	// changed is closed, and replaced, whenever something is added: the
	// pages wait on it.
	changed chan struct{}
	dropped uint64 // batches pages missed for reading too slowly
}

// message is one encoded Server-Sent Event.
type message struct {
	seq  uint64 // of its batch, or of its warning
	data []byte // the whole event, "id: …\nevent: …\ndata: …\n\n"
}

// cursor is how far one page has read: the last batch, warning and info
// event it was sent.
type cursor struct {
	seq, wseq, infoSeq uint64
}

// New returns the server of cfg. It fails if a handler's pattern is
// malformed or takes the page's own paths.
func New(cfg Config) (*Server, error) {
	if cfg.HistoryBytes <= 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, changed: make(chan struct{})}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("web: embedded assets: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/events", s.serveEvents)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	for pattern, h := range cfg.Handlers {
		if err := register(mux, pattern, h); err != nil {
			return nil, err
		}
	}
	s.mux = mux
	return s, nil
}

// register adds an extra handler, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	_, path, _ := strings.Cut(strings.TrimSpace(pattern), " ")
	if path == "" {
		path = pattern
	}
	if path == "/" || strings.HasPrefix(path, "/api/") || h == nil {
		return fmt.Errorf("web: handler %q: the page owns / and /api/; mount it elsewhere, e.g. \"GET /metrics\"", pattern)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("web: handler %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Handler returns the HTTP handler of the page, its event stream, the
// extra handlers and GET /healthz.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves Handler on ln until ctx is done, then closes the open event
// streams and returns nil. Other errors of the listener are returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("web: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	// The event streams end with ctx (their requests' base context).
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("web: stop serving %s: %w", ln.Addr(), err)
	}
	return nil
}

// Publish adds batch to the history, from which every open page (and
// every page opened later) is sent it. batch is encoded as JSON once; a
// value that is not a JSON array is sent as a one-element array. Publish
// never blocks on a page: a page that falls so far behind that the batch
// leaves the history before it was sent is told so. It fails only when
// batch cannot be encoded.
func (s *Server) Publish(batch any) error {
	raw, err := json.Marshal(batch)
	if err != nil {
		return fmt.Errorf("web: encode batch: %w", err)
	}
	if len(raw) == 0 || raw[0] != '[' {
		raw = append(append([]byte{'['}, raw...), ']')
	}
	fields := Fields(batch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.fields) == 0 && len(fields) > 0 {
		s.fields = fields
		s.infoSeq++
	}
	s.seq++
	body, _ := json.Marshal(struct {
		Seq    uint64          `json:"seq"`
		Time   time.Time       `json:"time"`
		Events json.RawMessage `json:"events"`
	}{s.seq, time.Now().UTC(), raw})
	m := message{seq: s.seq, data: event(s.seq, "batch", body)}
	s.history = append(s.history, m)
	s.size += len(m.data)
	for s.size > s.cfg.HistoryBytes && len(s.history) > 1 {
		s.size -= len(s.history[0].data)
		s.history[0] = message{}
		s.history = s.history[1:]
		s.evicted++
	}
	s.notifyLocked()
	return nil
}

// Warn shows msg in the warnings panel of every page, now and later (the
// last 100 are kept). Use it for what the trace reports beside its
// batches, e.g. a failing output.
func (s *Server) Warn(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wseq++
	m := s.warningLocked(msg)
	m.seq = s.wseq
	s.warnings = append(s.warnings, m)
	if len(s.warnings) > maxWarnings {
		s.warnings = s.warnings[len(s.warnings)-maxWarnings:]
	}
	s.notifyLocked()
}

// Dropped returns how many batches pages missed because they read too
// slowly (the batches left the history before they were sent), summed
// over the pages.
func (s *Server) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

func (s *Server) warningLocked(msg string) message {
	body, _ := json.Marshal(struct {
		Time    time.Time `json:"time"`
		Message string    `json:"message"`
	}{time.Now().UTC(), msg})
	return message{data: event(0, "warning", body)}
}

// infoLocked is the info event: what the page shows in its header and
// the columns of its table.
func (s *Server) infoLocked() message {
	var first uint64
	if len(s.history) > 0 {
		first = s.history[0].seq
	}
	body, _ := json.Marshal(struct {
		Gadget     string   `json:"gadget"`
		Source     string   `json:"source,omitempty"`
		IntervalMs int64    `json:"intervalMs,omitempty"`
		Fields     []string `json:"fields,omitempty"`
		Evicted    uint64   `json:"evicted,omitempty"`
		FirstSeq   uint64   `json:"firstSeq,omitempty"`
	}{s.cfg.Gadget, s.cfg.Source, s.cfg.Interval.Milliseconds(), s.fields, s.evicted, first})
	return message{data: event(0, "info", body)}
}

// notifyLocked wakes the pages.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextLocked returns what a page at c is to be sent next, at most about
// roundBytes of batches, and moves c past it; lost is the number of
// batches it missed (they left the history before it read them), more
// whether there is more to send right away, and changed the channel to
// wait on once there is not.
func (s *Server) nextLocked(c *cursor) (out [][]byte, lost uint64, more bool, changed <-chan struct{}) {
	if c.infoSeq != s.infoSeq {
		out = append(out, s.infoLocked().data)
		c.infoSeq = s.infoSeq
	}
	for _, m := range s.warnings {
		if m.seq > c.wseq {
			out = append(out, m.data)
		}
	}
	c.wseq = s.wseq
	if len(s.history) > 0 && s.history[0].seq > c.seq+1 {
		lost = s.history[0].seq - c.seq - 1
		c.seq = s.history[0].seq - 1
	}
	size := 0
	for _, m := range s.history[len(s.history)-int(s.seq-c.seq):] {
		if size >= roundBytes {
			return out, lost, true, s.changed
		}
		out = append(out, m.data)
		size += len(m.data)
		c.seq = m.seq
	}
	return out, lost, false, s.changed
}

// event encodes one Server-Sent Event; data is one line of JSON.
func event(id uint64, name string, data []byte) []byte {
	var b strings.Builder
	if id > 0 {
		fmt.Fprintf(&b, "id: %d\n", id)
	}
	fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data)
	return []byte(b.String())
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if _, ok := w.(http.Flusher); !ok {
		http.Error(w, "streaming unsupported by this connection", http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	// EventSource resumes after the last batch it saw when it reconnects.
	var c cursor
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		_, _ = fmt.Sscan(v, &c.seq)
	}
	s.mu.Lock()
	if c.seq > s.seq {
		c.seq = s.seq // from an earlier run: resume with what there is
	}
	first := [][]byte{s.infoLocked().data}
	c.infoSeq = s.infoSeq
	if c.seq == 0 && len(s.history) > 0 {
		// A new page starts at the oldest batch kept, told how many are
		// gone; those are not its losses.
		if n := s.evicted; n > 0 {
			first = append(first, s.warningLocked(fmt.Sprintf(
				"the first %d batches are no longer kept (history budget %d MiB): counters start later than the trace", n, s.cfg.HistoryBytes>>20)).data)
		}
		c.seq = s.history[0].seq - 1
	}
	s.mu.Unlock()
	s.log.Info("web page connected", "remote", r.RemoteAddr, "after", c.seq)
	defer s.log.Info("web page disconnected", "remote", r.RemoteAddr)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	write := func(data [][]byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		for _, d := range data {
			if _, err := w.Write(d); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	if !write(first) {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		s.mu.Lock()
		out, lost, more, changed := s.nextLocked(&c)
		if lost > 0 {
			s.dropped += lost
			out = append([][]byte{s.warningLocked(fmt.Sprintf(
				"%d batches dropped: this page read them too slowly; reload it to see the whole graph", lost)).data}, out...)
		}
		s.mu.Unlock()
		if lost > 0 {
			s.log.Warn("web page too slow, batches dropped", "remote", r.RemoteAddr, "dropped", lost)
		}
		if len(out) > 0 && !write(out) {
			return
		}
		if more {
			continue
		}
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			if !write([][]byte{[]byte(": keep-alive\n\n")}) {
				return
			}
		case <-changed:
		}
	}
}
