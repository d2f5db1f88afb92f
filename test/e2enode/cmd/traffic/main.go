// Command traffic is the workload image of the real-node end-to-end test
// (make e2e-node): a TCP and UDP echo server, or a client that opens a new
// TCP connection and sends one UDP datagram to its targets at a fixed
// interval, so that the network-graph gadget has real pod traffic to see,
// or a DNS server that answers one name, so that the dns gadget has.
//
//	traffic serve  -tcp :8080 -udp :5353
//	traffic client -tcp 10.0.0.10:80 -udp 10.0.0.11:5353 -every 300ms
//	traffic dns    -listen :53 -name db.e2e. -a 10.0.0.11 -ttl 2
//	traffic client -resolver 10.0.0.12:53 -resolve-every 15s -tcp db.e2e.:8080
//
// -tcp and -udp may be repeated or left out. A client with -resolver looks
// the targets' names up with that server (A queries over UDP) at most
// every -resolve-every, and keeps connecting to the last address between
// (as an application caching answers beyond their TTL would). It runs
// until SIGTERM.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gadgetkit/gadget/internal/dnsanswer"
)

// addrs is a repeatable address flag.
type addrs []string

func (a *addrs) String() string     { return strings.Join(*a, ",") }
func (a *addrs) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], log); err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	if len(args) == 0 || (args[0] != "serve" && args[0] != "client" && args[0] != "dns") {
		return errors.New("usage: traffic serve|client [-tcp ADDR]... [-udp ADDR]... [-every DURATION] [-resolver ADDR] | traffic dns -name NAME -a ADDR")
	}
	if args[0] == "dns" {
		return dnsServer(ctx, args[1:], log)
	}
	fs := flag.NewFlagSet("traffic "+args[0], flag.ContinueOnError)
	var tcp, udp addrs
	fs.Var(&tcp, "tcp", "TCP address to listen on (serve) or connect to (client); repeatable")
	fs.Var(&udp, "udp", "UDP address to listen on (serve) or send to (client); repeatable")
	every := fs.Duration("every", 300*time.Millisecond, "client: how often to connect and send")
	resolver := fs.String("resolver", "", "client: the DNS server (HOST:PORT) that names in -tcp and -udp are looked up with")
	resolveEvery := fs.Duration("resolve-every", 15*time.Second, "client: how often a name is looked up again")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if len(tcp)+len(udp) == 0 {
		return errors.New("no -tcp or -udp address")
	}
	if args[0] == "serve" {
		return serve(ctx, tcp, udp, log)
	}
	if *every <= 0 {
		return fmt.Errorf("-every %s: must be positive", *every)
	}
	r := &names{server: *resolver, every: *resolveEvery, log: log, cache: map[string]cached{}}
	client(ctx, tcp, udp, *every, r, log)
	return nil
}

// dnsServer answers A queries for one name over UDP until ctx is done.
func dnsServer(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("traffic dns", flag.ContinueOnError)
	listen := fs.String("listen", ":53", "UDP address to answer on")
	name := fs.String("name", "", "the name answered, with its final dot (e.g. db.e2e.)")
	a := fs.String("a", "", "the IPv4 address the name has")
	ttl := fs.Uint("ttl", 2, "the answer's TTL in seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr, err := netip.ParseAddr(*a)
	if err != nil || !addr.Is4() {
		return fmt.Errorf("-a %q: want an IPv4 address", *a)
	}
	if !strings.HasSuffix(*name, ".") {
		return fmt.Errorf("-name %q: end the name with its final dot, e.g. %q", *name, *name+".")
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", *listen)
	if err != nil {
		return fmt.Errorf("listen udp %s: %w", *listen, err)
	}
	log.Info("serving dns", "udp", *listen, "name", *name, "a", addr, "ttl", *ttl)
	return dnsanswer.Serve(ctx, pc, *name, addr, uint32(*ttl))
}

// names looks the hosts of targets up with one DNS server and remembers
// each answer for every, whatever its TTL.
type names struct {
	server string
	every  time.Duration
	log    *slog.Logger
	cache  map[string]cached
}

type cached struct {
	addr netip.Addr
	at   time.Time
}

// target is addr with its host replaced by the address it resolves to; an
// address without a resolver, or whose host is an IP, is itself.
func (r *names) target(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("target %q: %w", addr, err)
	}
	if _, err := netip.ParseAddr(host); err == nil || r.server == "" {
		return addr, nil
	}
	c, ok := r.cache[host]
	if !ok || time.Since(c.at) >= r.every {
		res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", r.server)
		}}
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ips, err := res.LookupNetIP(lctx, "ip4", host)
		cancel()
		switch {
		case err == nil && len(ips) > 0:
			c = cached{addr: ips[0].Unmap(), at: time.Now()}
			r.cache[host] = c
			r.log.Info("resolved", "name", host, "addr", c.addr, "server", r.server)
		case !ok:
			return "", fmt.Errorf("resolve %s with %s: %v (%d addresses)", host, r.server, err, len(ips))
		default:
			r.log.Warn("resolve again", "name", host, "server", r.server, "err", err)
		}
	}
	return net.JoinHostPort(c.addr.String(), port), nil
}

// serve echoes every TCP line and every UDP datagram until ctx is done.
func serve(ctx context.Context, tcp, udp []string, log *slog.Logger) error {
	var lc net.ListenConfig
	for _, a := range tcp {
		l, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return fmt.Errorf("listen tcp %s: %w", a, err)
		}
		go func() { <-ctx.Done(); l.Close() }()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go echoTCP(c)
			}
		}()
		log.Info("serving", "tcp", a)
	}
	for _, a := range udp {
		pc, err := lc.ListenPacket(ctx, "udp", a)
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", a, err)
		}
		go func() { <-ctx.Done(); pc.Close() }()
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(buf[:n], from)
			}
		}()
		log.Info("serving", "udp", a)
	}
	<-ctx.Done()
	return nil
}

func echoTCP(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		if _, err := c.Write(line); err != nil {
			return
		}
	}
}

// client connects to every target at each tick until ctx is done. Errors
// are logged, not fatal: a target may come up after the client.
func client(ctx context.Context, tcp, udp []string, every time.Duration, r *names, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	d := net.Dialer{Timeout: time.Second}
	for n := 0; ; n++ {
		for _, a := range tcp {
			to, err := r.target(ctx, a)
			if err == nil {
				err = pingTCP(ctx, &d, to, n)
			}
			if err != nil {
				log.Warn("tcp", "to", a, "err", err)
			}
		}
		for _, a := range udp {
			to, err := r.target(ctx, a)
			if err == nil {
				err = pingUDP(ctx, &d, to, n)
			}
			if err != nil {
				log.Warn("udp", "to", a, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func pingTCP(ctx context.Context, d *net.Dialer, addr string, n int) error {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(c, "ping %d\n", n); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

func pingUDP(ctx context.Context, d *net.Dialer, addr string, n int) error {
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(c, "ping %d\n", n); err != nil {
		return err
	}
	buf := make([]byte, 64)
	_, err = c.Read(buf)
	return err
}
