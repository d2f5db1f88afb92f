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
	server.DNSServer(t, net.JoinHostPort(serverIP, "53"), name, netip.MustParseAddr(serverIP), 30)
	kg("dns", "start", "--node", node, "--wait-timeout", "30s")
	var last string
	poll(ctx, t, "kubectl gadget dns show lists the query and its answer", func() (bool, string) {
		// A lost query or answer is asked again at the next poll.
		_ = client.QueryA(net.JoinHostPort(serverIP, "53"), name, time.Second)
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
