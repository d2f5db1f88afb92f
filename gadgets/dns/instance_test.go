package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/trace"
	"github.com/gadgetkit/gadget/gadgets/dns/spec"
	"github.com/gadgetkit/gadget/gadgets/dns/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// recorder collects the batches a trace emits.
type recorder struct {
	mu     sync.Mutex
	events []types.Event
}

func (r *recorder) emit(batch any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, batch.([]types.Event)...)
}

func (r *recorder) all() []types.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]types.Event(nil), r.events...)
}

// waitFor polls until cond holds on the events emitted so far.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]types.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(r.all()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %+v", what, r.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func target(t *testing.T, ns *testenv.Netns) gadget.Target {
	t.Helper()
	ino, err := containers.NetnsInode(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	return gadget.Target{ID: fmt.Sprintf("netns:%d", ino), Node: "testnode", Pod: ns.Name(), NetnsPath: ns.Path(), NetnsInode: ino}
}

// testZone is what the test DNS server knows: name (with the final dot)
// → a CNAME to "srv."+name, which has addresses v4 and v6, with a TTL of
// ttl seconds. dropName gets no answer; other names NXDOMAIN.
type testZone struct {
	name     string
	v4, v6   netip.Addr
	ttl      uint32
	dropName string
}

// answer returns the response to the query msg, or nil to stay silent.
func (z testZone) answer(msg []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil || q.Name.String() == z.dropName {
		return nil
	}
	rcode := dnsmessage.RCodeSuccess
	if q.Name.String() != z.name {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if rcode == dnsmessage.RCodeSuccess {
		srv := dnsmessage.MustNewName("srv." + z.name)
		hdr := func(name dnsmessage.Name) dnsmessage.ResourceHeader {
			return dnsmessage.ResourceHeader{Name: name, Class: dnsmessage.ClassINET, TTL: z.ttl}
		}
		_ = b.CNAMEResource(hdr(q.Name), dnsmessage.CNAMEResource{CNAME: srv})
		switch q.Type {
		case dnsmessage.TypeA:
			_ = b.AResource(hdr(srv), dnsmessage.AResource{A: z.v4.As4()})
		case dnsmessage.TypeAAAA:
			_ = b.AAAAResource(hdr(srv), dnsmessage.AAAAResource{AAAA: z.v6.As16()})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// serveDNS answers queries to addr (UDP and TCP) inside ns from z until the
// test ends.
func serveDNS(t *testing.T, ns *testenv.Netns, addr string, z testZone) {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		pc.Close()
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := z.answer(buf[:n]); resp != nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				var n [2]byte
				if _, err := io.ReadFull(c, n[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(n[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				if resp := z.answer(msg); resp != nil {
					_, _ = c.Write(tcpForm(resp))
				}
			})
		}
	})
}

// query sends one raw query for name/qtype from inside ns to server over
// network (udp or tcp) and returns the response's rcode, or an error
// (os.ErrDeadlineExceeded when no response came within wait).
func query(t *testing.T, ns *testenv.Netns, network, server string, id uint16, name string, qtype dnsmessage.Type, wait time.Duration) (dnsmessage.RCode, error) {
	t.Helper()
	msg := buildMessage(t, id, false, 0, name, qtype)
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout(network, server, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s %s: %v", network, server, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	resp := make([]byte, 1500)
	var n int
	var err error
	if network == "tcp" {
		if _, err = c.Write(tcpForm(msg)); err != nil {
			return 0, err
		}
		var l [2]byte
		if _, err = io.ReadFull(c, l[:]); err != nil {
			return 0, err
		}
		resp = resp[:binary.BigEndian.Uint16(l[:])]
		n, err = io.ReadFull(c, resp)
	} else {
		if _, err = c.Write(msg); err != nil {
			return 0, err
		}
		n, err = c.Read(resp)
	}
	if err != nil {
		return 0, err
	}
	var p dnsmessage.Parser
	h, err := p.Start(resp[:n])
	if err != nil {
		return 0, fmt.Errorf("response: %w", err)
	}
	return h.RCode, nil
}

func find(events []types.Event, pod, name, qtype, proto, status string) (types.Event, bool) {
	for _, e := range events {
		if e.Type == eventtypes.NORMAL && e.Pod == pod && e.Name == name && e.QType == qtype && e.Proto == proto && e.Status == status {
			return e, true
		}
	}
	return types.Event{}, false
}

// TestTrace runs the dns gadget through the framework (registry, trace,
// operations) on three namespace "pods": a DNS server, a web server whose
// name it serves, and a client that resolves the name with raw queries
// over UDP and TCP, IPv4 and IPv6.
func TestTrace(t *testing.T) {
	testenv.RequirePrivileged(t)
	dnsNS := testenv.NewNetns(t, "dns")
	webNS := testenv.NewNetns(t, "web")
	client := testenv.NewNetns(t, "client")
	toDNS := testenv.Link(t, client, dnsNS)
	toWeb := testenv.Link(t, client, webNS)
	zone := testZone{name: "web.test.", v4: toWeb.B4, v6: toWeb.B6, ttl: 2, dropName: "drop.test."}
	server4 := netip.AddrPortFrom(toDNS.B4, 53).String()
	server6 := netip.AddrPortFrom(toDNS.B6, 53).String()
	serveDNS(t, dnsNS, server4, zone)
	serveDNS(t, dnsNS, server6, zone)

	rec := &recorder{}
	tr, err := trace.New(nil, trace.Config{
		Gadget:     Name,
		Node:       "testnode",
		Parameters: map[string]string{ParamInterval: "200ms", ParamTimeout: "1s"},
		Emit:       rec.emit,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []*testenv.Netns{client, dnsNS} {
		if err := tr.AddTarget(ctx, target(t, ns)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Operate(ctx, "start"); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = tr.Operate(context.Background(), "stop")
		}
	})

	for _, q := range []struct {
		network, server string
		qtype           dnsmessage.Type
		name            string
		want            dnsmessage.RCode
	}{
		{"udp", server4, dnsmessage.TypeA, "web.test.", dnsmessage.RCodeSuccess},
		{"udp", server6, dnsmessage.TypeAAAA, "web.test.", dnsmessage.RCodeSuccess},
		{"tcp", server4, dnsmessage.TypeA, "web.test.", dnsmessage.RCodeSuccess},
		{"tcp", server6, dnsmessage.TypeAAAA, "nope.test.", dnsmessage.RCodeNameError},
	} {
		rcode, err := query(t, client, q.network, q.server, 0x4242, q.name, q.qtype, 5*time.Second)
		if err != nil || rcode != q.want {
			t.Fatalf("%s query %s %s to %s: rcode %v, %v; want %v", q.network, q.name, q.qtype, q.server, rcode, err, q.want)
		}
	}
	if _, err := query(t, client, "udp", server4, 0x4343, "drop.test.", dnsmessage.TypeA, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("query for drop.test.: %v, want no response", err)
	}
	// Not DNS, to port 53: counted, not parsed (the server ignores it). The
	// last is a query whose name is a compression pointer to itself.
	if err := client.Do(func() error {
		c, err := net.Dial("udp", server4)
		if err != nil {
			return err
		}
		defer c.Close()
		for _, junk := range [][]byte{[]byte("hello, not dns"), {0xc0}, {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}} {
			if _, err := c.Write(junk); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	cpod, spod := client.Name(), dnsNS.Name()
	rec.waitFor(t, "drop.test unanswered and the malformed packets counted", func(es []types.Event) bool {
		_, unanswered := find(es, cpod, "drop.test", "A", "udp", types.StatusUnanswered)
		malformed := false
		for _, e := range es {
			malformed = malformed || (e.Type == eventtypes.WARN && strings.Contains(e.Message, "packets not parsed as DNS"))
		}
		return unanswered && malformed
	})
	if err := tr.Operate(ctx, "stop"); err != nil {
		t.Fatal(err)
	}
	stopped = true
	events := rec.all()
	for _, e := range events {
		t.Logf("%+v", e)
	}

	srv4, srv6 := "srv.web.test", "srv.web.test"
	checks := []struct {
		pod, qtype, proto, server, data string
		port                            int
		srv                             string
	}{
		{cpod, "A", "udp", toDNS.B4.String(), toWeb.B4.String(), 53, srv4},
		{cpod, "AAAA", "udp", toDNS.B6.String(), toWeb.B6.String(), 53, srv6},
		{cpod, "A", "tcp", toDNS.B4.String(), toWeb.B4.String(), 53, srv4},
		{spod, "A", "udp", toDNS.B4.String(), toWeb.B4.String(), 53, srv4}, // the server's own view
	}
	for _, c := range checks {
		e, ok := find(events, c.pod, "web.test", c.qtype, c.proto, types.StatusAnswered)
		if !ok {
			t.Errorf("no answered %s %s query for web.test in pod %s", c.proto, c.qtype, c.pod)
			continue
		}
		want := []types.Answer{{Name: "web.test", Type: "CNAME", TTL: 2, Data: "srv.web.test"}, {Name: c.srv, Type: c.qtype, TTL: 2, Data: c.data}}
		if e.RCode != "NOERROR" || e.Server != c.server || e.ServerPort != c.port || e.LatencyNs <= 0 || e.LatencyNs > int64(5*time.Second) ||
			e.ID != 0x4242 || e.Node != "testnode" || len(e.Answers) != 2 || e.Answers[0] != want[0] || e.Answers[1] != want[1] {
			t.Errorf("pod %s %s %s: got %+v\nwant rcode NOERROR, server %s#%d, a latency, answers %+v", c.pod, c.proto, c.qtype, e, c.server, c.port, want)
		}
	}
	if e, ok := find(events, cpod, "nope.test", "AAAA", "tcp", types.StatusAnswered); !ok || e.RCode != "NXDOMAIN" || len(e.Answers) != 0 {
		t.Errorf("nope.test over tcp: got %+v, %v; want NXDOMAIN without answers", e, ok)
	}
	if e, ok := find(events, cpod, "drop.test", "A", "udp", types.StatusUnanswered); !ok || e.RCode != "" || e.LatencyNs != 0 {
		t.Errorf("drop.test: got %+v, %v; want unanswered", e, ok)
	}

	// The table shows the same.
	var out, errw strings.Builder
	o, err := tr.Info().NewOutput(spec.FormatTable, &out, &errw)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(o.Batch(events), o.Close()); err != nil {
		t.Fatal(err)
	}
	t.Logf("table:\n%s%s", out.String(), errw.String())
	for _, s := range []string{"CNAME srv.web.test 2s, A " + toWeb.B4.String() + " 2s", "unanswered", "NXDOMAIN"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table has no %q", s)
		}
	}
	if !strings.Contains(errw.String(), "warning: dns:") {
		t.Errorf("no warning line on the error writer: %q", errw.String())
	}
}
