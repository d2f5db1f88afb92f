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
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/hack/bench/internal/alternate"
)

// altResult is what alternate reports; rates in connections per second.
type altResult struct {
	Mode        string     `json:"mode"`
	Slices      int        `json:"slices"` // on slices compared
	Ratio       float64    `json:"ratio"`
	Range       [2]float64 `json:"range"`
	On          float64    `json:"on"`
	Off         float64    `json:"off"`
	SwitchMS    float64    `json:"switch_ms"`
	Seconds     float64    `json:"seconds"` // how long the load ran
	Connections uint64     `json:"connections"`
	Errors      uint64     `json:"errors"`
	FirstError  string     `json:"first_error,omitempty"`
	// With network-graph: the connections that ran wholly while it was
	// attached, and what the client's edge (OUTGOING to the server's port)
	// and the server's (HOST on it) counted over the run.
	WholeOn       uint64 `json:"whole_on"`
	ClientPackets uint64 `json:"client_packets"`
	ServerPackets uint64 `json:"server_packets"`
	Accounted     bool   `json:"accounted"`
}

func runAlternate(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("alternate", flag.ContinueOnError)
	var f alternate.Flags
	f.Register(fs, "client", "server", "open connections")
	addr := fs.String("addr", "", "server address in namespace b, IPv4:port, e.g. 10.99.1.2:7000")
	workers := fs.Int("workers", 4, "connections in flight at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	server, err := netip.ParseAddrPort(*addr)
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("alternate: unexpected argument %q; %s", fs.Arg(0), usage)
	case err != nil || !server.Addr().Is4():
		return fmt.Errorf("alternate: -addr %q must be the server's IPv4:port, e.g. 10.99.1.2:7000", *addr)
	case *workers <= 0:
		return fmt.Errorf("alternate: -workers %d must be positive", *workers)
	}
	if err := f.Check(); err != nil {
		return fmt.Errorf("alternate: %w", err)
	}
	res, err := churnAlternate(ctx, log, f, server, *workers)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

func churnAlternate(ctx context.Context, log *slog.Logger, f alternate.Flags, server netip.AddrPort, workers int) (altResult, error) {
	mode, nsA, nsB := f.Mode, f.A, f.B
	res := altResult{Mode: mode, Seconds: f.Seconds}
	clientIP, err := addrIn(nsA)
	if err != nil {
		return res, err
	}
	port := int(server.Port())
	var clientPackets, serverPackets atomic.Uint64
	sw, err := alternate.New(ctx, log, mode, []string{nsA, nsB}, func(evs []types.Event) {
		for _, e := range evs {
			switch {
			case e.Pod == nsA && e.PktType == types.PktTypeOutgoing && e.Proto == "tcp" && e.IP == server.Addr().String() && e.Port == port:
				clientPackets.Add(e.Packets)
			case e.Pod == nsB && e.PktType == types.PktTypeHost && e.Proto == "tcp" && e.IP == clientIP && e.Port == port:
				serverPackets.Add(e.Packets)
			}
		}
	})
	if err != nil {
		return res, err
	}
	defer sw.Close(context.WithoutCancel(ctx))

	var state alternate.State
	var conns, failed, wholeOn atomic.Uint64
	var firstErr atomic.Pointer[error]
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// The worker's thread stays in a for the whole run: its
			// sockets are made there.
			err := containers.InNetns("/var/run/netns/"+nsA, func() error {
				var d net.Dialer
				for loadCtx.Err() == nil {
					epoch, attached := state.Mark()
					err := exchange(loadCtx, &d, server.String())
					switch {
					case err == nil:
						conns.Add(1)
						if state.Whole(epoch, attached) {
							wholeOn.Add(1)
						}
					case loadCtx.Err() == nil:
						failed.Add(1)
						firstErr.CompareAndSwap(nil, &err)
					}
				}
				return nil
			})
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, &err)
			}
		})
	}
	r, runErr := alternate.Run(ctx, sw, &state, f.Options(), &conns)
	stopLoad()
	wg.Wait()
	if runErr != nil {
		return res, runErr
	}
	fig := r.Figures[0]
	res.Slices, res.SwitchMS = r.Slices, r.SwitchMS
	res.Ratio, res.Range, res.On, res.Off = fig.Ratio, fig.Range, fig.On, fig.Off
	res.Connections, res.Errors = conns.Load(), failed.Load()
	if e := firstErr.Load(); e != nil {
		res.FirstError = (*e).Error()
	}
	if alternate.IsGadget(mode) {
		// Each connection's SYN, SYN-ACK, request and reply pass both
		// ends' hooks before the client sees the server close: 4 packets
		// on each edge is a floor.
		res.WholeOn = wholeOn.Load()
		res.ClientPackets, res.ServerPackets = clientPackets.Load(), serverPackets.Load()
		res.Accounted = res.WholeOn > 0 && res.ClientPackets >= 4*res.WholeOn && res.ServerPackets >= 4*res.WholeOn
	}
	if res.Connections == 0 {
		return res, fmt.Errorf("no connection to %s completed (%d errors, first: %s): is the server running?", server, res.Errors, res.FirstError)
	}
	return res, nil
}

// addrIn returns the first IPv4 address of an interface other than
// loopback in the named namespace: the client's address as the server
// sees it.
func addrIn(name string) (string, error) {
	var found string
	err := containers.InNetns("/var/run/netns/"+name, func() error {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok && !p.IP.IsLoopback() && p.IP.To4() != nil {
				found = p.IP.String()
				return nil
			}
		}
		return errors.New("no IPv4 address")
	})
	if err != nil {
		return "", fmt.Errorf("client address in %s: %w", name, err)
	}
	return found, nil
}
