package networkgraph

import (
	"testing"

	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestSocketLoads checks that attach=socket's programs load on this kernel
// (a TCP state tracepoint program, a TCP socket iterator), that the first
// attaches to its tracepoint, and that their packet programs let TCP by
// while still counting UDP.
func TestSocketLoads(t *testing.T) {
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 64, MaxFlows: 64, Socket: true})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	if !objs.Socket() {
		t.Fatalf("attach=socket's programs did not load: %v", objs.SocketError())
	}
	l, err := objs.AttachTCPState()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
