package testenv_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestNetnsTopology links a client namespace to two servers (a star, so
// one namespace holds two veth ends), sends TCP and UDP over IPv4 and IPv6
// from inside the client, and checks that every namespace, and a process
// left inside one, is gone once the test that made them has ended.
func TestNetnsTopology(t *testing.T) {
	testenv.RequirePrivileged(t)
	var (
		names    []string
		leftover = make(chan error, 1)
	)
	t.Run("traffic", func(t *testing.T) {
		client := testenv.NewNetns(t, "client")
		servers := []*testenv.Netns{testenv.NewNetns(t, "srv"), testenv.NewNetns(t, "srv")}
		names = append(names, client.Name(), servers[0].Name(), servers[1].Name())

		var pairs []testenv.Pair
		for _, s := range servers {
			pairs = append(pairs, testenv.Link(t, client, s))
		}
		if pairs[0].B4 == pairs[1].B4 || pairs[0].A6 == pairs[1].A6 || pairs[0].ADev == pairs[1].ADev {
			t.Fatalf("two links share a subnet or a device name: %+v and %+v", pairs[0], pairs[1])
		}
		for _, p := range pairs {
			for _, a := range []netip.Addr{p.A4, p.B4, p.A6, p.B6} {
				if !a.IsPrivate() {
					t.Errorf("address %s is not private (RFC 1918 / ULA)", a)
				}
			}
		}

		for _, ns := range append([]*testenv.Netns{client}, servers...) {
			checkDoRunsInside(t, ns)
		}

		for i, s := range servers {
			p := pairs[i]
			for _, tc := range []struct{ from, to netip.Addr }{{p.A4, p.B4}, {p.A6, p.B6}} {
				t.Run(fmt.Sprintf("%s/tcp/%s", s.Name(), tc.to), func(t *testing.T) {
					addr := tcpEcho(t, s, tc.to)
					tcpRoundTrip(t, client, addr, tc.from)
				})
				t.Run(fmt.Sprintf("%s/udp/%s", s.Name(), tc.to), func(t *testing.T) {
					addr := udpEcho(t, s, tc.to)
					udpRoundTrip(t, client, addr, tc.from)
				})
			}
		}

		// A process the test forgets inside a namespace is killed by its
		// cleanup.
		sleep := exec.Command("ip", "netns", "exec", servers[1].Name(), "sleep", "300")
		if err := sleep.Start(); err != nil {
			t.Fatalf("start sleep in %s: %v", servers[1].Name(), err)
		}
		waitInNetns(t, sleep.Process.Pid, servers[1])
		go func() { leftover <- sleep.Wait() }()
	})

	select {
	case <-leftover:
	case <-time.After(10 * time.Second):
		t.Errorf("a process left in a test namespace outlived its cleanup")
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, name := range names {
		if strings.Contains(string(out), name) {
			t.Errorf("namespace %s still listed after its test ended:\n%s", name, out)
		}
		if _, err := os.Lstat("/var/run/netns/" + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/var/run/netns/%s still there after its test ended (%v)", name, err)
		}
	}
}

// checkDoRunsInside checks that Do's function sees the namespace's inode.
func checkDoRunsInside(t *testing.T, ns *testenv.Netns) {
	t.Helper()
	want, err := containers.NetnsInode(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	var got uint64
	if err := ns.Do(func() error {
		var err error
		got, err = containers.NetnsInode("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatalf("Do in %s: %v", ns.Name(), err)
	}
	if got != want {
		t.Errorf("Do in %s ran in netns %d, want %d", ns.Name(), got, want)
	}
}

// waitInNetns polls until process pid has entered ns (ip netns exec
// switches namespace, then execs).
func waitInNetns(t *testing.T, pid int, ns *testenv.Netns) {
	t.Helper()
	want, err := containers.NetnsInode(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := containers.NetnsInode(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never entered %s", pid, ns.Name())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tcpEcho listens on ip inside ns and echoes, prefixed by the peer's
// address, every connection; it returns the listening address.
func tcpEcho(t *testing.T, ns *testenv.Netns, ip netip.Addr) string {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", ip, ns.Name(), err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				peer := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
				if _, err := fmt.Fprintf(c, "%s|", peer); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// tcpRoundTrip dials addr from inside ns and checks the echo and that the
// server saw the connection come from wantFrom.
func tcpRoundTrip(t *testing.T, ns *testenv.Netns, addr string, wantFrom netip.Addr) {
	t.Helper()
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns.Name(), err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("hello over tcp")
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write to %s: %v", addr, err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("close write to %s: %v", addr, err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	want := append([]byte(wantFrom.String()+"|"), msg...)
	if !bytes.Equal(got, want) {
		t.Errorf("echo from %s = %q, want %q", addr, got, want)
	}
}

// udpEcho answers every datagram on ip inside ns with the sender's address
// and the payload; it returns the listening address.
func udpEcho(t *testing.T, ns *testenv.Netns, ip netip.Addr) string {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp", netip.AddrPortFrom(ip, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen on udp %s in %s: %v", ip, ns.Name(), err)
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
			peer := from.(*net.UDPAddr).AddrPort().Addr().Unmap()
			_, _ = pc.WriteTo(append([]byte(peer.String()+"|"), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

// udpRoundTrip sends datagrams to addr from inside ns until one answer
// comes back (UDP may drop the first while neighbours resolve), and checks
// it.
func udpRoundTrip(t *testing.T, ns *testenv.Netns, addr string, wantFrom netip.Addr) {
	t.Helper()
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = net.Dial("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("dial udp %s from %s: %v", addr, ns.Name(), err)
	}
	defer c.Close()
	msg := []byte("hello over udp")
	want := append([]byte(wantFrom.String()+"|"), msg...)
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("send to %s: %v", addr, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			t.Fatalf("receive from %s: %v", addr, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("echo from %s = %q, want %q", addr, buf[:n], want)
		}
		return
	}
	t.Fatalf("no UDP answer from %s within 5s", addr)
}
