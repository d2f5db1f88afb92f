package testenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gadgetkit/gadget/internal/dnsanswer"
)

// DNSServer answers DNS queries over UDP at listen inside n until the test
// ends: an A query for name (with its final dot, e.g. "web.test.") gets
// addr with a TTL of ttl seconds, another type for name an empty answer,
// any other name NXDOMAIN.
func (n *Netns) DNSServer(t testing.TB, listen, name string, addr netip.Addr, ttl uint32) {
	t.Helper()
	var pc net.PacketConn
	if err := n.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", listen)
		return err
	}); err != nil {
		t.Fatalf("DNS server: listen udp %s: %v", listen, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		_ = dnsanswer.Serve(ctx, pc, name, addr, ttl)
	}()
}

// QueryA sends one A query for name to server (HOST:PORT) over UDP from
// inside n and waits at most wait for the response, which it does not
// read further: the query is what a tracer should see.
func (n *Netns) QueryA(server, name string, wait time.Duration) error {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: uint16(time.Now().UnixNano()), RecursionDesired: true})
	_ = b.StartQuestions()
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	_ = b.Question(dnsmessage.Question{Name: qname, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	var c net.Conn
	if err := n.Do(func() (err error) {
		c, err = net.DialTimeout("udp", server, wait)
		return err
	}); err != nil {
		return fmt.Errorf("query %s: dial %s: %w", name, server, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	if _, err := c.Read(make([]byte, 1500)); err != nil {
		return fmt.Errorf("query %s: no response from %s: %w", name, server, err)
	}
	return nil
}
