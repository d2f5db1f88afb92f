// Command traffic is the workload image of the real-node end-to-end test
// (make e2e-node): a TCP and UDP echo server, or a client that opens a new
// TCP connection and sends one UDP datagram to its targets at a fixed
// interval, so that the network-graph gadget has real pod traffic to see.
//
//	traffic serve  -tcp :8080 -udp :5353
//	traffic client -tcp 10.0.0.10:80 -udp 10.0.0.11:5353 -every 300ms
//
// Each flag may be repeated or left out. It runs until SIGTERM.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
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
	if len(args) == 0 || (args[0] != "serve" && args[0] != "client") {
		return errors.New("usage: traffic serve|client [-tcp ADDR]... [-udp ADDR]... [-every DURATION]")
	}
	fs := flag.NewFlagSet("traffic "+args[0], flag.ContinueOnError)
	var tcp, udp addrs
	fs.Var(&tcp, "tcp", "TCP address to listen on (serve) or connect to (client); repeatable")
	fs.Var(&udp, "udp", "UDP address to listen on (serve) or send to (client); repeatable")
	every := fs.Duration("every", 300*time.Millisecond, "client: how often to connect and send")
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
	client(ctx, tcp, udp, *every, log)
	return nil
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
func client(ctx context.Context, tcp, udp []string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	d := net.Dialer{Timeout: time.Second}
	for n := 0; ; n++ {
		for _, a := range tcp {
			if err := pingTCP(ctx, &d, a, n); err != nil {
				log.Warn("tcp", "to", a, "err", err)
			}
		}
		for _, a := range udp {
			if err := pingUDP(ctx, &d, a, n); err != nil {
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
