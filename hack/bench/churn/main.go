// Command churn measures how many new TCP connections per second one
// client opens to one server; hack/bench/churn.sh runs it between two
// network namespaces with and without network-graph attached.
//
//	churn server -listen 10.99.1.2:7000
//	churn client -addr 10.99.1.2:7000 -duration 3s -workers 4
//	churn alternate -a NETNS -b NETNS -addr 10.99.1.2:7000 -seconds 20 -slice 500ms -mode network-graph
//
// Every connection is a full exchange: connect, send one byte, receive one
// byte, see the server close, close. The server closes first, so the
// TIME_WAIT state stays on its side and the client does not run out of
// ports. The client prints one JSON object on stdout:
//
//	{"connections":31234,"errors":0,"seconds":3.0001,"rate":10411.0}
//
// The server runs until SIGINT or SIGTERM and writes "listening" on stderr
// once it accepts connections.
//
// alternate runs the client's workers in namespace a (the server runs in b)
// while it attaches network-graph to both namespaces for one slice and
// detaches it for the next, in turn (hack/bench/internal/alternate): each
// slice with it is compared with its neighbours without. -mode trivial
// switches a program that only returns TCX_NEXT at both veth ends instead,
// -mode none nothing. It prints one JSON object: the median on/off ratio
// of the connections per second, its range, the median rates, and with
// network-graph whether the client's and the server's edges counted at
// least 4 packets for each connection that ran wholly while attached.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
}

const usage = "usage: churn server -listen ADDR | churn client -addr ADDR [-duration D] [-workers N] | " +
	"churn alternate -a NETNS -b NETNS -addr ADDR [-seconds S] [-slice D] [-workers N] [-mode network-graph|network-graph-tcx|trivial|none]"

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "server":
		fs := flag.NewFlagSet("server", flag.ContinueOnError)
		listen := fs.String("listen", "", "address to listen on, e.g. 10.99.1.2:7000")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *listen == "" {
			return errors.New("server: -listen is required, e.g. -listen 10.99.1.2:7000")
		}
		return serve(ctx, *listen, log)
	case "client":
		fs := flag.NewFlagSet("client", flag.ContinueOnError)
		addr := fs.String("addr", "", "server address, e.g. 10.99.1.2:7000")
		duration := fs.Duration("duration", 3*time.Second, "how long to open connections")
		workers := fs.Int("workers", 4, "connections in flight at once")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *addr == "" {
			return errors.New("client: -addr is required, e.g. -addr 10.99.1.2:7000")
		}
		if *duration <= 0 || *workers <= 0 {
			return fmt.Errorf("client: -duration %v and -workers %d must be positive", *duration, *workers)
		}
		res, err := churn(ctx, *addr, *duration, *workers)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	case "alternate":
		return runAlternate(ctx, args[1:], stdout, log)
	default:
		return fmt.Errorf("unknown mode %q: use server, client or alternate", args[0])
	}
}

// serve accepts connections until ctx is done; each gets one byte back for
// the byte it sends, then the server closes it.
func serve(ctx context.Context, addr string, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-ctx.Done()
		return ln.Close()
	})
	log.Info("listening", "addr", ln.Addr().String())
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return g.Wait()
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Go(func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			var b [1]byte
			if _, err := io.ReadFull(c, b[:]); err != nil {
				return
			}
			_, _ = c.Write(b[:])
		})
	}
}

// result is what the client reports.
type result struct {
	Connections int64   `json:"connections"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"rate"`
	// FirstError is the first failed exchange's error, if any.
	FirstError string `json:"first_error,omitempty"`
}

// churn opens connections to addr from workers goroutines for duration
// and counts the completed exchanges.
func churn(ctx context.Context, addr string, duration time.Duration, workers int) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	end, _ := ctx.Deadline()
	// The dialer's socket deadline can fire a moment before ctx reports
	// it is done: only failures before the end count as errors.
	running := func() bool { return ctx.Err() == nil && time.Now().Before(end) }
	counts := make([]struct {
		ok, failed int64
		first      error
	}, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var d net.Dialer
			for running() {
				err := exchange(ctx, &d, addr)
				switch {
				case err == nil:
					counts[w].ok++
				case running():
					counts[w].failed++
					if counts[w].first == nil {
						counts[w].first = err
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var res result
	for _, c := range counts {
		res.Connections += c.ok
		res.Errors += c.failed
		if c.first != nil && res.FirstError == "" {
			res.FirstError = c.first.Error()
		}
	}
	res.Seconds = elapsed
	res.Rate = float64(res.Connections) / elapsed
	if res.Connections == 0 {
		return res, fmt.Errorf("no connection to %s completed (%d errors): is the server running?", addr, res.Errors)
	}
	return res, nil
}

// exchange runs one connection: one byte each way, then the server's close.
func exchange(ctx context.Context, d *net.Dialer, addr string) error {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now()
	}
	_ = c.SetDeadline(dl.Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	var b [2]byte
	n, err := io.ReadFull(c, b[:])
	// One byte back, then EOF: the server closed first.
	if n != 1 || !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read reply: got %d bytes: %w", n, err)
	}
	return nil
}
