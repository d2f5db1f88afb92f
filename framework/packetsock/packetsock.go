// Package packetsock opens the packet sockets that gadgets run socket
// filters on: an AF_PACKET socket in a network namespace sees every packet
// its interfaces send and receive, and its filter (an eBPF socket program)
// counts or copies what it needs without the socket queueing anything.
package packetsock

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// New opens a packet socket (AF_PACKET, SOCK_DGRAM: link-layer headers
// stripped) in the calling thread's network namespace, named name (for
// errors and /proc). It is bound to no protocol yet, so it receives
// nothing until Attach: call New in the namespace (containers.InNetns),
// then Attach.
func New(name string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Attach attaches the socket program progFD to sock, from New, shrinks
// its receive queue to the least the kernel allows (the gadgets' filters
// accept no packet: what they learn goes to maps or a ring buffer), and
// only then binds it to every protocol (ETH_P_ALL): no packet reaches it
// before its filter.
func Attach(sock *os.File, progFD int) error {
	rc, err := sock.SyscallConn()
	if err != nil {
		return fmt.Errorf("packet socket %s: %w", sock.Name(), err)
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_BPF, progFD); err != nil {
			opErr = fmt.Errorf("attach socket filter: %w", err)
			return
		}
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 0); err != nil {
			opErr = fmt.Errorf("shrink socket buffer: %w", err)
			return
		}
		if err := unix.Bind(int(fd), &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
			opErr = fmt.Errorf("bind packet socket: %w", err)
		}
	})
	if err != nil {
		return fmt.Errorf("packet socket %s: %w", sock.Name(), err)
	}
	return opErr
}

// htons is v in network byte order, as AF_PACKET takes its protocol.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
