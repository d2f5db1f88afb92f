// Package dnsanswer is the one-name DNS server of the tests: the
// privileged tests run it in a network namespace (internal/testenv), the
// real-node test in a pod (test/e2enode/cmd/traffic).
package dnsanswer

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/dns/dnsmessage"
)

// A is the response to the DNS query msg: an A query for name (with its
// final dot, e.g. "web.test.") gets addr with a TTL of ttl seconds, another
// type for name an empty answer, any other name NXDOMAIN. It is nil for a
// message it cannot parse.
func A(msg []byte, name string, addr netip.Addr, ttl uint32) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}
	if q.Name.String() != name {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if rh.RCode == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA && addr.Is4() {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: ttl}, dnsmessage.AResource{A: addr.As4()})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// Serve answers every query read from pc with A until ctx is done or pc
// fails; it closes pc.
func Serve(ctx context.Context, pc net.PacketConn, name string, addr netip.Addr, ttl uint32) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dns server %s: %w", pc.LocalAddr(), err)
		}
		if resp := A(buf[:n], name, addr, ttl); resp != nil {
			_, _ = pc.WriteTo(resp, from)
		}
	}
}
