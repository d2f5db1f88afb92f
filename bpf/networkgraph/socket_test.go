package networkgraph

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/internal/testenv"
)

// loadSocketAttached loads attach=socket's programs (it fails the test
// when they do not load) with the TCP state program attached, both
// released when the test ends.
func loadSocketAttached(t *testing.T) *Objects {
	t.Helper()
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 64, MaxFlows: 64, Socket: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	if !objs.Socket() {
		t.Fatalf("attach=socket's programs did not load: %v", objs.SocketError())
	}
	l, err := objs.AttachTCPState()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return objs
}

// TestSocketLoads checks that attach=socket's programs load on this kernel
// (a TCP state tracepoint program, a TCP socket iterator), that the first
// attaches to its tracepoint, and that their packet programs let TCP by
// while still counting UDP.
func TestSocketLoads(t *testing.T) {
	objs := loadSocketAttached(t)
	a, b := [4]byte{10, 99, 0, 1}, [4]byte{10, 99, 0, 2}
	for _, pkt := range [][]byte{tcp4(a, 40000, b, 80, 0x02), udp4(a, 40001, b, 53)} {
		if ret, _, err := objs.TCProgram().Test(pkt); err != nil || int32(ret) != tcxNext {
			t.Fatalf("tc program: %d, %v; want TCX_NEXT", int32(ret), err)
		}
	}
	ports := map[uint16]uint64{}
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) { ports[k.Port] += v.Packets }); err != nil {
		t.Fatal(err)
	}
	if ports[80] != 0 || ports[53] != 2 {
		t.Errorf("packets by port %v: want no TCP (80) and the UDP datagram for both ends (53: 2)", ports)
	}
	if err := objs.WatchNetns(1); err != nil {
		t.Fatal(err)
	}
	if err := objs.ReadConnections(); err != nil {
		t.Fatal(err)
	}
}

// TestSocketHandshakeBeforeFirstWalk: a connection whose handshake ends
// while its namespaces await their first walk is recorded at the
// handshake, at both ends, and that walk counts it from its start instead
// of taking it for one open before the watch. first_walks counts the
// namespaces awaiting a first walk; the connecting end's handshake is
// only looked at while it is not 0.
func TestSocketHandshakeBeforeFirstWalk(t *testing.T) {
	objs := loadSocketAttached(t)
	pending := func() uint32 {
		t.Helper()
		var n uint32
		if err := objs.objs.FirstWalks.Lookup(uint32(0), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	a := testenv.NewNetns(t, "a")
	b := testenv.NewNetns(t, "b")
	p := testenv.Link(t, a, b)
	addr := net.JoinHostPort(p.B4.String(), "8080")
	b.TCPEchoServer(t, addr)
	tag := func(n *testenv.Netns) (tag uint32) {
		t.Helper()
		if err := n.Do(func() error {
			c, err := currentNetnsCookie()
			tag = NetnsTag(c)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return tag
	}
	ta, tb := tag(a), tag(b)
	for _, tg := range []uint32{ta, tb} {
		if err := objs.WatchNetns(tg); err != nil {
			t.Fatal(err)
		}
	}
	if n := pending(); n != 2 {
		t.Fatalf("first_walks %d after watching two namespaces, want 2", n)
	}

	// Connected, and talked over, before the first walks.
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}

	for _, w := range []struct {
		n   *testenv.Netns
		tag uint32
	}{{a, ta}, {b, tb}} {
		if err := w.n.Do(objs.ReadConnections); err != nil {
			t.Fatal(err)
		}
		if err := objs.WatchNetnsWalked(w.tag); err != nil {
			t.Fatal(err)
		}
	}
	if n := pending(); n != 0 {
		t.Fatalf("first_walks %d after both first walks, want 0", n)
	}
	// The handshake and the ping, both ways: at least 4 segments at each
	// end (SYN or SYN-ACK, ACK, ping, answer).
	got := map[uint8]uint64{}
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) {
		if k.Port == 8080 && (k.Netns == ta && k.PktType == PacketOutgoing || k.Netns == tb && k.PktType == PacketHost) {
			got[k.PktType] += v.Packets
		}
	}); err != nil {
		t.Fatal(err)
	}
	if got[PacketOutgoing] < 4 || got[PacketHost] < 4 {
		t.Errorf("segments counted by the first walks: connecting end (OUTGOING) %d, accepting end (HOST) %d; want at least 4 each", got[PacketOutgoing], got[PacketHost])
	}

	if err := objs.WatchNetns(99); err != nil {
		t.Fatal(err)
	}
	if err := objs.UnwatchNetns(99); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("first_walks %d after watching and unwatching a namespace before its first walk, want 0", n)
	}
}
