package all_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/trace"
	_ "github.com/gadgetkit/gadget/gadgets/all"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestDNSNamesOnEdges runs network-graph through the framework: the trace
// runs dns beside it (network-graph Uses what dns Provides), and the edges
// to an address the pod resolved carry the name, stale after the TTL.
func TestDNSNamesOnEdges(t *testing.T) {
	testenv.RequirePrivileged(t)
	dnsNS := testenv.NewNetns(t, "dns")
	webNS := testenv.NewNetns(t, "web")
	client := testenv.NewNetns(t, "client")
	toDNS := testenv.Link(t, client, dnsNS)
	toWeb := testenv.Link(t, client, webNS)
	server := netip.AddrPortFrom(toDNS.B4, 53).String()
	web := netip.AddrPortFrom(toWeb.B4, 8080).String()
	const ttl = 2
	dnsNS.DNSServer(t, server, "web.test.", toWeb.B4, ttl)
	webNS.TCPEchoServer(t, web)
	webNS.UDPEchoServer(t, web)

	var mu sync.Mutex
	var edges []types.Event
	tr, err := trace.New(nil, trace.Config{
		Gadget:     "network-graph",
		Node:       "testnode",
		Parameters: map[string]string{"interval": "200ms", "dns-names": "true"},
		Emit: func(b any) {
			mu.Lock()
			defer mu.Unlock()
			edges = append(edges, b.([]types.Event)...)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ino, err := containers.NetnsInode(client.Path())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.AddTarget(ctx, gadget.Target{ID: "client", Pod: client.Name(), NetnsPath: client.Path(), NetnsInode: ino}); err != nil {
		t.Fatal(err)
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

	if err := client.QueryA(server, "web.test.", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	resolvedAt := time.Now()
	client.TCPExchange(t, web, 100)
	client.UDPExchange(t, web, 3, 100)

	named := func(proto string, stale bool) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range edges {
			if e.PktType == types.PktTypeOutgoing && e.Proto == proto && e.IP == toWeb.B4.String() && e.Port == 8080 &&
				e.RemoteName == "web.test" && e.RemoteNameStale == stale {
				return true
			}
		}
		return false
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out waiting for %s; edges: %s", what, types.EventsString(edges))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the tcp and udp edges named web.test", func() bool { return named("tcp", false) && named("udp", false) })
	if since := time.Since(resolvedAt); since >= ttl*time.Second {
		t.Logf("the fresh name was seen %v after resolving, after its TTL: the check above proves little", since)
	}

	// After the TTL, new traffic on the same edges shows the name stale.
	time.Sleep(time.Until(resolvedAt.Add(ttl*time.Second + 200*time.Millisecond)))
	client.TCPExchange(t, web, 100)
	client.UDPExchange(t, web, 3, 100)
	waitFor("the edges' name stale", func() bool { return named("tcp", true) && named("udp", true) })

	if err := tr.Operate(ctx, "stop"); err != nil {
		t.Fatal(err)
	}
	stopped = true

	mu.Lock()
	final := types.Unique(edges)
	mu.Unlock()
	for _, format := range []string{"table", "dot"} {
		var out, errw strings.Builder
		o, err := tr.Info().NewOutput(format, &out, &errw)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Batch(final); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s:\n%s", format, out.String())
		want := "web.test (stale)"
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s output has no %q", format, want)
		}
	}
}
