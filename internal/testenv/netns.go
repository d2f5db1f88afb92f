package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gadgetkit/gadget/framework/containers"
)

// netnsDir is where ip netns keeps named namespaces.
const netnsDir = "/var/run/netns"

// Netns is a named network namespace made for one test and removed when
// the test ends.
type Netns struct {
	name string
}

// Name returns the namespace's name, as ip netns list shows it.
func (n *Netns) Name() string { return n.name }

// Path returns the namespace's file, /var/run/netns/NAME; an open file
// descriptor of it is the namespace (setns, gadget.Target.NetnsPath).
func (n *Netns) Path() string { return netnsDir + "/" + n.name }

// Do runs fn on a locked OS thread inside the namespace and returns its
// error. Sockets fn creates stay in the namespace and may be used from any
// goroutine afterwards, so a test can listen or dial inside with Do and
// serve or read outside it.
func (n *Netns) Do(fn func() error) error {
	return containers.InNetns(n.Path(), fn)
}

var prefixPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// NewNetns creates a network namespace named gt-<random>-<prefix> with its
// loopback up. prefix is a short lower-case word naming the namespace's
// role, e.g. "client". When the test ends, processes still inside the
// namespace are killed and the namespace is deleted, with every veth end
// in it; a failure to delete fails the test. NewNetns skips the test (fails
// it under CI=true) when the ip command is missing, and fails it when ip
// does.
func NewNetns(t testing.TB, prefix string) *Netns {
	t.Helper()
	if !prefixPattern.MatchString(prefix) {
		t.Fatalf("testenv.NewNetns: prefix %q: want lower-case letters, digits and '-', e.g. \"client\"", prefix)
	}
	requireTool(t, "ip", "iproute2")
	name := ""
	for range 5 {
		candidate := "gt-" + randomHex(t, 3) + "-" + prefix
		if _, err := os.Lstat(netnsDir + "/" + candidate); errors.Is(err, fs.ErrNotExist) {
			name = candidate
			break
		}
	}
	if name == "" {
		t.Fatalf("testenv.NewNetns: no free namespace name gt-*-%s in %s after 5 tries", prefix, netnsDir)
	}
	n := &Netns{name: name}
	ip(t, "netns", "add", n.name)
	t.Cleanup(func() { n.remove(t) })
	ip(t, "-n", n.name, "link", "set", "lo", "up")
	return n
}

// remove kills what the test left inside the namespace and deletes it.
func (n *Netns) remove(t testing.TB) {
	t.Helper()
	if _, err := os.Lstat(n.Path()); errors.Is(err, fs.ErrNotExist) {
		return // the test deleted it itself
	}
	if out, err := exec.Command("ip", "netns", "pids", n.name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 1 || pid == os.Getpid() {
				continue
			}
			t.Logf("testenv: killing process %d left in network namespace %s", pid, n.name)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		if _, serr := os.Lstat(n.Path()); errors.Is(serr, fs.ErrNotExist) {
			return
		}
		t.Errorf("testenv: delete network namespace %s: ip netns del: %v: %s (remove it by hand: ip netns del %s)",
			n.name, err, strings.TrimSpace(string(out)), n.name)
	}
}

// Pair is a veth pair linking two namespaces, with one IPv4 and one IPv6
// address on each end.
type Pair struct {
	A4, A6 netip.Addr // addresses of the end in namespace a
	B4, B6 netip.Addr // addresses of the end in namespace b
	ADev   string     // name of the end in namespace a
	BDev   string     // name of the end in namespace b
}

var links atomic.Uint32

// Link joins a and b with a veth pair, both ends up. Each call takes the
// next /24 of 10.213.0.0/16 (a gets .1, b gets .2) and the matching /64 of
// fd00:213::/48 (::1 and ::2, added with nodad so they work at once); the
// 256 subnets are reused only after 256 calls in one test binary. The pair
// goes away with the namespaces. Link fails the test if ip does.
func Link(t testing.TB, a, b *Netns) Pair {
	t.Helper()
	if a == b {
		t.Fatalf("testenv.Link: both ends in %s: link two different namespaces", a.name)
	}
	s := (links.Add(1) - 1) % 256
	id := randomHex(t, 3)
	p := Pair{
		A4:   netip.AddrFrom4([4]byte{10, 213, byte(s), 1}),
		B4:   netip.AddrFrom4([4]byte{10, 213, byte(s), 2}),
		A6:   netip.MustParseAddr(fmt.Sprintf("fd00:213:0:%x::1", s)),
		B6:   netip.MustParseAddr(fmt.Sprintf("fd00:213:0:%x::2", s)),
		ADev: "gt" + id + "-a",
		BDev: "gt" + id + "-b",
	}
	ip(t, "link", "add", p.ADev, "netns", a.name, "type", "veth", "peer", "name", p.BDev, "netns", b.name)
	ends := []struct {
		ns     *Netns
		dev    string
		v4, v6 netip.Addr
	}{{a, p.ADev, p.A4, p.A6}, {b, p.BDev, p.B4, p.B6}}
	// Both ends up before any address: IPv6 addresses added while the
	// carrier is down lose the first packet sent to them (a one-second
	// TCP retransmit), even with nodad.
	for _, end := range ends {
		ip(t, "-n", end.ns.name, "link", "set", end.dev, "up")
	}
	for _, end := range ends {
		ip(t, "-n", end.ns.name, "addr", "add", end.v4.String()+"/24", "dev", end.dev)
		ip(t, "-n", end.ns.name, "addr", "add", end.v6.String()+"/64", "dev", end.dev, "nodad")
	}
	return p
}

// ip runs the ip command and fails the test with its output on error.
func ip(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random name: %v", err)
	}
	return hex.EncodeToString(b)
}
