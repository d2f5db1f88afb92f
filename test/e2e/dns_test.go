//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gadgetkit/gadget/internal/testenv"
)

// dnsEvent is the part of the dns gadget's event this test reads.
type dnsEvent struct {
	Type    string `json:"type"`
	Pod     string `json:"pod"`
	Status  string `json:"status"`
	Server  string `json:"server"`
	Name    string `json:"name"`
	QType   string `json:"qtype"`
	RCode   string `json:"rcode"`
	Answers []struct {
		Type string `json:"type"`
		Data string `json:"data"`
	} `json:"answers"`
}

// checkDNS drives the second gadget through the same generic client and
// agent code: kubectl gadget dns start, a DNS server in server's netns
// answering name with addr, a raw query from client, then kubectl gadget
// dns show (read from the agent at agentAddr) must list the query with its
// answer; stop ends it. kg runs kubectl gadget as the test's user.
func checkDNS(ctx context.Context, t *testing.T, kg func(args ...string) string, client, server *testenv.Netns, serverIP, agentAddr string) {
	t.Helper()
	const name = "db.shop.e2e."
	addr := netip.MustParseAddr(serverIP)
	serveDNSOnce(t, server, net.JoinHostPort(serverIP, "53"), name, addr)
	kg("dns", "start", "--node", node, "--wait-timeout", "30s")
	var last string
	poll(ctx, t, "kubectl gadget dns show lists the query and its answer", func() (bool, string) {
		askDNS(t, client, net.JoinHostPort(serverIP, "53"), name)
		last = kg("dns", "show", "--agent-address", agentAddr, "-o", "jsonl")
		for _, line := range strings.Split(last, "\n") {
			var e dnsEvent
			// The gadget reports names without the root's trailing dot.
			if json.Unmarshal([]byte(line), &e) != nil || e.Name != strings.TrimSuffix(name, ".") || e.QType != "A" || e.RCode != "NOERROR" {
				continue
			}
			for _, a := range e.Answers {
				if a.Type == "A" && a.Data == serverIP {
					t.Logf("dns: %s asked %s for %s %s: %s %s", e.Pod, e.Server, e.Name, e.QType, a.Type, a.Data)
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("no answered query for %s in:\n%s", name, last)
	})
	kg("dns", "stop", "--wait-timeout", "30s")
}

// serveDNSOnce answers A queries for name with addr on UDP addr inside ns
// until the test ends; other names get NXDOMAIN.
func serveDNSOnce(t *testing.T, ns *testenv.Netns, listen, name string, addr netip.Addr) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", listen)
		return err
	}); err != nil {
		t.Fatalf("DNS server: listen %s: %v", listen, err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
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
			if rh.RCode == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: addr.As4()})
			}
			if out, err := b.Finish(); err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
}

// askDNS sends one A query for name to server over UDP from inside ns and
// waits a second at most for the answer (the test polls; a lost one is
// asked again).
func askDNS(t *testing.T, ns *testenv.Netns, server, name string) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: uint16(time.Now().UnixNano()), RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("udp", server, 2*time.Second)
		return err
	}); err != nil {
		t.Fatalf("DNS client: dial %s: %v", server, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(msg); err != nil {
		return
	}
	_, _ = c.Read(make([]byte, 1500))
}
