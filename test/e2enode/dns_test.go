//go:build e2enode

package e2enode

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	dnstypes "github.com/gadgetkit/gadget/gadgets/dns/types"
	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/test/internal/edgetest"
)

const (
	dnsName    = "db.e2e." // the name the DNS server pod answers, with its final dot
	dnsTTL     = 2         // seconds: the answer's TTL, after which the name is stale
	dnsSession = "e2e-dns"
	ngSession  = "e2e-names"
)

// checkDNS: a DNS server in a pod (dataNS/dns) answers dnsName with the
// address of a server pod (dataNS/db), TTL dnsTTL; a client pod
// (shopNS/dns-client) looks the name up with it every 10s and connects to
// the answer over TCP and UDP every 300ms. kubectl gadget dns shows the
// query and its answer; kubectl gadget network-graph with
// --param dns-names=true names both edges db.e2e, then — traffic after the
// TTL without a new answer — db.e2e stale.
func (e *env) checkDNS() {
	e.t.Helper()
	e.step("dns: %s/dns answers %s with %s/db's address; %s/dns-client resolves it and connects over TCP and UDP", dataNS, dnsName, dataNS, shopNS)
	e.apply(pod(dataNS, "db", false, "serve", "-tcp", fmt.Sprintf(":%d", tcpPort), "-udp", fmt.Sprintf(":%d", udpPort)))
	db := e.waitPod(dataNS, "db")
	e.apply(pod(dataNS, "dns", false, "dns", "-listen", ":53", "-name", dnsName, "-a", db.Status.PodIP, "-ttl", fmt.Sprint(dnsTTL)))
	server := e.waitPod(dataNS, "dns")
	host := strings.TrimSuffix(dnsName, ".")

	e.kg("dns", "start", "--name", dnsSession, "-n", shopNS, "-l", "app=dns-client", "--interval", "500ms", "--wait-timeout", "60s")
	e.kg("network-graph", "start", "--name", ngSession, "-n", shopNS, "-l", "app=dns-client", "--interval", "500ms",
		"--param", "dns-names=true", "--wait-timeout", "60s")
	// The client starts after the traces: its pod is attached as it comes,
	// and a lookup missed before that is made again 10s later.
	e.apply(pod(shopNS, "dns-client", false, "client", "-resolver", server.Status.PodIP+":53", "-resolve-every", "10s",
		"-tcp", fmt.Sprintf("%s:%d", dnsName, tcpPort), "-udp", fmt.Sprintf("%s:%d", dnsName, udpPort)))
	e.waitPod(shopNS, "dns-client")
	stream := e.startStreamOf("network-graph", ngSession, "stream-dns-names.jsonl")

	named := func(stale bool) func() (bool, string) {
		return func() (bool, string) {
			seen := map[string]bool{}
			var have []string
			for _, ev := range stream.events() {
				if ev.Pod != "dns-client" {
					continue
				}
				have = append(have, fmt.Sprintf("%s name %q stale %v", edgetest.Key(ev), ev.RemoteName, ev.RemoteNameStale))
				if ev.PktType == ngtypes.PktTypeOutgoing && ev.IP == db.Status.PodIP && ev.RemoteName == host && ev.RemoteNameStale == stale &&
					((ev.Proto == "tcp" && ev.Port == tcpPort) || (ev.Proto == "udp" && ev.Port == udpPort)) {
					seen[ev.Proto] = true
				}
			}
			if seen["tcp"] && seen["udp"] {
				return true, ""
			}
			if len(have) > 8 {
				have = have[len(have)-8:]
			}
			return false, fmt.Sprintf("tcp %v udp %v; the client's latest edges: %s", seen["tcp"], seen["udp"], strings.Join(have, "; "))
		}
	}
	e.poll("the client's TCP and UDP edges to "+db.Status.PodIP+" named "+host, 90*time.Second, named(false))
	e.logf("edges to %s named %s", db.Status.PodIP, host)
	e.poll("the same edges named "+host+" stale (traffic after the TTL of "+fmt.Sprint(dnsTTL)+"s)", 60*time.Second, named(true))
	e.logf("edges to %s named %s (stale)", db.Status.PodIP, host)
	stream.stop()

	var last string
	e.poll("kubectl gadget dns show lists the client's query and its answer", 60*time.Second, func() (bool, string) {
		out, err := e.try(*kubectlGadget, "dns", "show", "--name", dnsSession, "-o", "jsonl")
		if err != nil {
			return false, err.Error()
		}
		last = out
		for _, line := range strings.Split(out, "\n") {
			var ev dnstypes.Event
			if json.Unmarshal([]byte(line), &ev) != nil || ev.Pod != "dns-client" || ev.Name != host || ev.QType != "A" || ev.RCode != "NOERROR" {
				continue
			}
			for _, a := range ev.Answers {
				if a.Type == "A" && a.Data == db.Status.PodIP && a.TTL == dnsTTL && ev.Server == server.Status.PodIP {
					e.logf("dns: %s/%s asked %s for %s %s: %s %s (TTL %d) in %s", ev.Namespace, ev.Pod, ev.Server, ev.Name, ev.QType, a.Type, a.Data, a.TTL, ev.Latency())
					return true, ""
				}
			}
		}
		return false, "no answered query for " + host + " from dns-client"
	})
	if t := e.kg("dns", "show", "--name", dnsSession, "-o", "table"); !strings.Contains(t, host) {
		e.t.Errorf("kubectl gadget dns show -o table lacks %s:\n%s\n(jsonl: %s)", host, t, last)
	}
	if t := e.kg("network-graph", "show", "--name", ngSession, "-o", "table"); !strings.Contains(t, host) {
		e.t.Errorf("kubectl gadget network-graph show -o table lacks %s", host)
	}
	e.kg("network-graph", "stop", "--name", ngSession, "--wait-timeout", "60s")
	e.kg("dns", "stop", "--name", dnsSession, "--wait-timeout", "60s")
	e.kubectl("-n", shopNS, "delete", "pod", "dns-client", "--wait=true")
	e.kubectl("-n", dataNS, "delete", "pod", "dns", "db", "--wait=true")
}
