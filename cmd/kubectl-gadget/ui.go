package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gadgetkit/gadget/framework/web"
)

// uiSource is what the ui command of a gadget needs: the gadget's name,
// a description of where the events come from, the agents' batch
// interval when known, and a follow function that reads the agents'
// streams (through the API server) and hands their events to emit until
// ctx ends. Warnings about the streams go to warn, one line each.
type uiSource struct {
	gadget   string
	source   string
	interval time.Duration
	follow   func(ctx context.Context, warn io.Writer, emit func(batch []any) error) error
}

// uiFlushEvery is how often the events read from the streams are sent to
// the page as one batch: the streams carry one event per line.
const uiFlushEvery = 250 * time.Millisecond

// newUICmd returns "ui" for a gadget: it serves the live view on the
// user's machine, fed by the agents' streams through the API server's
// pods/proxy; no port is opened on the cluster. open resolves the source
// once the command runs (it connects to the cluster).
func newUICmd(gadgetName string, open func(cmd *cobra.Command) (uiSource, error)) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Serve a live view of the " + gadgetName + " streams on this machine (a web page) until Ctrl-C",
		Long: "ui reads the streams of the agents through the API server, as stream does, and serves a live web page " +
			"on this machine (--address, 127.0.0.1:8099 by default): the graph drawn live, filters, exports and a table. " +
			"Nothing is opened on the cluster. See docs/web.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := open(cmd)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usagef("--address %q: %v: give a free HOST:PORT, e.g. --address 127.0.0.1:8099", addr, err)
			}
			return serveUI(cmd.Context(), ln, src, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&addr, "address", "127.0.0.1:8099", "serve the page at `HOST:PORT` (keep it on loopback unless others should see it)")
	return cmd
}

// serveUI serves the view of src on ln until ctx ends.
func serveUI(ctx context.Context, ln net.Listener, src uiSource, stderr io.Writer) error {
	srv, err := web.New(web.Config{Gadget: src.gadget, Source: src.source, Interval: src.interval})
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stderr, "live view: http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	b := &uiBatcher{srv: srv}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		tick := time.NewTicker(uiFlushEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				b.flush()
				return
			case <-tick.C:
				b.flush()
			}
		}
	}()
	warn := &lineWriter{w: stderr, line: srv.Warn}
	followErr := src.follow(ctx, warn, b.add)
	if followErr != nil && ctx.Err() == nil {
		// The page keeps what it has: say why it stopped moving, and keep
		// serving until Ctrl-C.
		srv.Warn("the streams ended: " + followErr.Error())
		fmt.Fprintf(stderr, "warning: the streams ended: %v; the page is served until Ctrl-C\n", followErr)
		<-ctx.Done()
	}
	cancel()
	<-flushed
	return <-served
}

// uiBatcher gathers the events of the streams into one batch per flush.
type uiBatcher struct {
	srv *web.Server

	mu      sync.Mutex
	pending []any
}

func (b *uiBatcher) add(events []any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, events...)
	return nil
}

func (b *uiBatcher) flush() {
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := b.srv.Publish(batch); err != nil {
		b.srv.Warn(fmt.Sprintf("%d events not shown: %v", len(batch), err))
	}
}

// lineWriter copies what is written to w and hands each complete line to
// line as well.
type lineWriter struct {
	w    io.Writer
	line func(string)

	mu  sync.Mutex
	buf strings.Builder
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	s := l.buf.String()
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		if t := strings.TrimSpace(s[:i]); t != "" {
			l.line(strings.TrimPrefix(t, "warning: "))
		}
		s = s[i+1:]
	}
	l.buf.Reset()
	l.buf.WriteString(s)
	return l.w.Write(p)
}
