package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gadgetkit/gadget/framework/containers"
)

// Netns is a network namespace made for one test and removed after it.
type Netns struct {
	name string
}

// Name returns the namespace's name (as in ip netns list).
func (n *Netns) Name() string { return n.name }

// Path returns the namespace's path under /var/run/netns.
func (n *Netns) Path() string { return "/var/run/netns/" + n.name }

// Do runs fn inside the namespace on a locked OS thread; sockets fn
// creates stay in the namespace.
func (n *Netns) Do(fn func() error) error {
	return containers.InNetns(n.Path(), fn)
}

// ip runs the ip command and fails the test with its output on error.
func ip(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// NewNetns creates a network namespace named gt-<random>-<prefix> with its
// loopback up, and removes it when the test ends.
func NewNetns(t testing.TB, prefix string) *Netns {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	n := &Netns{name: "gt-" + hex.EncodeToString(b[:]) + "-" + prefix}
	ip(t, "netns", "add", n.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("remove netns %s: %v: %s", n.name, err, out)
		}
	})
	ip(t, "-n", n.name, "link", "set", "lo", "up")
	return n
}

// Pair is a veth pair linking two namespaces, with one IPv4 and one IPv6
// address on each end.
type Pair struct {
	A4, A6 netip.Addr // addresses of the end in namespace a
	B4, B6 netip.Addr // addresses of the end in namespace b
}

var subnet atomic.Uint32

// Link joins a and b with a veth pair on a fresh /24 of 10.213.0.0/16 and
// /64 of fd00:213::/48. The pair goes away with the namespaces.
func Link(t testing.TB, a, b *Netns) Pair {
	t.Helper()
	s := subnet.Add(1) % 250
	p := Pair{
		A4: netip.MustParseAddr(fmt.Sprintf("10.213.%d.1", s)),
		B4: netip.MustParseAddr(fmt.Sprintf("10.213.%d.2", s)),
		A6: netip.MustParseAddr(fmt.Sprintf("fd00:213:0:%x::1", s)),
		B6: netip.MustParseAddr(fmt.Sprintf("fd00:213:0:%x::2", s)),
	}
	va, vb := "veth-"+a.name[3:9]+"a", "veth-"+b.name[3:9]+"b"
	ip(t, "link", "add", va, "netns", a.name, "type", "veth", "peer", "name", vb, "netns", b.name)
	for _, end := range []struct {
		ns     *Netns
		dev    string
		v4, v6 netip.Addr
	}{{a, va, p.A4, p.A6}, {b, vb, p.B4, p.B6}} {
		ip(t, "-n", end.ns.name, "addr", "add", end.v4.String()+"/24", "dev", end.dev)
		ip(t, "-n", end.ns.name, "addr", "add", end.v6.String()+"/64", "dev", end.dev, "nodad")
		ip(t, "-n", end.ns.name, "link", "set", end.dev, "up")
	}
	return p
}
