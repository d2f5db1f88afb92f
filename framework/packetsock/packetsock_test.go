package packetsock_test

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/gadgetkit/gadget/framework/packetsock"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// filter loads a socket program that keeps ret bytes of each packet (0:
// none, the packet is dropped before the socket's queue).
func filter(t *testing.T, ret int32) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "packetsock_test", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
	})
	if err != nil {
		t.Fatalf("load socket program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// TestAttach opens a packet socket in a fresh namespace, attaches a filter
// and sends a datagram over the namespace's loopback: the socket is bound
// to every protocol with the least receive buffer, and it gets the packet
// only when its filter keeps it.
func TestAttach(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, tt := range []struct {
		name string
		keep int32
		want bool
	}{
		{"a filter that keeps nothing", 0, false},
		{"a filter that keeps every packet", 0xffff, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := testenv.NewNetns(t, "packetsock")
			var sock *os.File
			if err := n.Do(func() (err error) {
				sock, err = packetsock.New("packetsock-test")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer sock.Close()
			if err := packetsock.Attach(sock, filter(t, tt.keep).FD()); err != nil {
				t.Fatalf("Attach: %v", err)
			}
			if err := n.Do(func() error {
				return checkProcNetPacket(t)
			}); err != nil {
				t.Fatal(err)
			}
			if err := n.Do(func() error {
				c, err := net.Dial("udp", "127.0.0.1:9")
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Write([]byte("packetsock"))
				return err
			}); err != nil {
				t.Fatalf("send a datagram: %v", err)
			}
			_ = sock.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 2048)
			nr, err := sock.Read(buf)
			switch {
			case tt.want && err != nil:
				t.Fatalf("no packet read with a filter that keeps them: %v", err)
			case tt.want && !strings.Contains(string(buf[:nr]), "packetsock"):
				t.Fatalf("read %d bytes without the datagram's payload: %q", nr, buf[:nr])
			case !tt.want && err == nil:
				t.Fatalf("read %d bytes through a filter that keeps nothing", nr)
			case !tt.want && !errors.Is(err, os.ErrDeadlineExceeded):
				t.Fatalf("read: %v, want a timeout", err)
			}
		})
	}
}

// checkProcNetPacket checks that the calling thread's namespace has one
// packet socket, of type SOCK_DGRAM, bound to ETH_P_ALL.
func checkProcNetPacket(t *testing.T) error {
	f, err := os.Open("/proc/thread-self/net/packet")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // sk RefCnt Type Proto Iface R Rmem User Inode
	var socks [][]string
	for sc.Scan() {
		socks = append(socks, strings.Fields(sc.Text()))
	}
	if len(socks) != 1 || len(socks[0]) < 4 {
		t.Errorf("/proc/net/packet: %q, want one socket", socks)
		return sc.Err()
	}
	if typ, proto := socks[0][2], socks[0][3]; typ != "2" || proto != "0003" {
		t.Errorf("packet socket of type %s, protocol %s; want 2 (SOCK_DGRAM), 0003 (ETH_P_ALL)", typ, proto)
	}
	return sc.Err()
}
