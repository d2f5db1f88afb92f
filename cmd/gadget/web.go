package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/web"
)

// liveView is the web view of a run (--web ADDR): it listens before the
// trace starts, so that a bad address is a usage error, and serves until
// the run is over.
type liveView struct {
	srv  *web.Server
	ln   net.Listener
	url  string
	done chan error
}

// openLiveView listens on addr for the view of info's trace; extra are
// handlers served beside the page (e.g. GET /metrics).
func openLiveView(info *gadget.Info, addr, node string, interval time.Duration, log *slog.Logger, extra map[string]http.Handler) (*liveView, error) {
	srv, err := web.New(web.Config{
		Gadget:   info.Name,
		Source:   "gadget run on " + node,
		Interval: interval,
		Handlers: extra,
		Logger:   log,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("--web %q: %v: give a free HOST:PORT, e.g. --web 127.0.0.1:8099", addr, err)
	}
	return &liveView{srv: srv, ln: ln, url: "http://" + ln.Addr().String() + "/"}, nil
}

// serve serves the page until ctx is done; wait returns its error.
func (v *liveView) serve(ctx context.Context) {
	v.done = make(chan error, 1)
	go func() { v.done <- v.srv.Serve(ctx, v.ln) }()
}

func (v *liveView) wait() error {
	if v == nil || v.done == nil {
		return nil
	}
	if err := <-v.done; err != nil {
		return fmt.Errorf("--web: %w", err)
	}
	return nil
}

// publish sends a batch to the open pages; a batch that cannot be encoded
// is reported on the page and in the log.
func (v *liveView) publish(batch any, log *slog.Logger) {
	if v == nil {
		return
	}
	if err := v.srv.Publish(batch); err != nil {
		log.Error("live view: batch not shown", "err", err)
		v.srv.Warn("a batch could not be shown: " + err.Error())
	}
}
