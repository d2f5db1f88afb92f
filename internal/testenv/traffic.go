package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TCPEchoServer listens on addr inside n and echoes every connection until
// the test ends; it returns once listening.
func (n *Netns) TCPEchoServer(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	if err := n.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// TCPExchange dials addr from inside n, sends size bytes and reads them
// back.
func (n *Netns) TCPExchange(t testing.TB, addr string, size int) {
	t.Helper()
	n.tcpEcho(t, addr, size).Close()
}

// TCPExchangeClosed is TCPExchange, with the connection closed both ways
// before it returns: it half-closes and waits for the server's FIN, so
// that the connection's closing segments are sent by then.
func (n *Netns) TCPExchangeClosed(t testing.TB, addr string, size int) {
	t.Helper()
	c := n.tcpEcho(t, addr, size)
	defer c.Close()
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("half-close the connection to %s: %v", addr, err)
	}
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("wait for the FIN of %s: %v", addr, err)
	}
}

// tcpEcho dials addr from inside n, sends size bytes and reads them back
// (sending and reading at once: size may exceed the sockets' buffers),
// within 10 s.
func (n *Netns) tcpEcho(t testing.TB, addr string, size int) *net.TCPConn {
	t.Helper()
	var c net.Conn
	if err := n.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte(strings.Repeat("x", size)))
		wrote <- err
	}()
	if _, err := io.ReadFull(c, make([]byte, size)); err != nil {
		c.Close()
		t.Fatalf("echo from %s: %v", addr, err)
	}
	if err := <-wrote; err != nil {
		c.Close()
		t.Fatalf("send to %s: %v", addr, err)
	}
	return c.(*net.TCPConn)
}

// UDPEchoServer answers every datagram to addr inside n with the same
// payload until the test ends.
func (n *Netns) UDPEchoServer(t testing.TB, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := n.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			m, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:m], from)
		}
	}()
}

// UDPExchange sends count datagrams of size bytes to addr from one socket
// inside n and waits for each reply.
func (n *Netns) UDPExchange(t testing.TB, addr string, count, size int) {
	t.Helper()
	var c net.Conn
	if err := n.Do(func() (err error) {
		c, err = net.Dial("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("dial udp %s: %v", addr, err)
	}
	defer c.Close()
	buf := make([]byte, size)
	for range count {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("udp reply from %s: %v", addr, err)
		}
	}
}

// SockoptInt is a net.Dialer (or net.ListenConfig) Control function that
// sets the socket option level/opt to value before the socket connects or
// binds, e.g. SockoptInt(syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) for
// a reader whose peer's writes block soon. Its error says which option
// failed.
func SockoptInt(level, opt, value int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), level, opt, value) })
		if serr != nil {
			serr = fmt.Errorf("setsockopt(level %d, option %d, %d): %w", level, opt, value, serr)
		}
		return errors.Join(err, serr)
	}
}
