// Command flood measures what network-graph costs a 64-byte UDP flood with
// the gadget attached and detached in turn within one run, so that both
// sides of every comparison see the machine in the same state
// (hack/bench/kernel.sh, configuration P):
//
//	flood -a gbench-k-a -b gbench-k-b -dst 10.99.0.2:5300 -seconds 20 -slice 500ms [-mode network-graph]
//
// A sender in namespace a writes 64-byte datagrams to dst as fast as it can
// and a receiver in namespace b reads them; both count what they move.
// Meanwhile network-graph, driven through framework/trace as the CLI does,
// watches both namespaces for one slice and none for the next, in turn:
// each switch attaches or detaches its TCX hooks (RemoveTarget/AddTarget),
// which takes some milliseconds, so only the steady part of a slice counts
// (from 20 ms after its switch ended to the start of the next). The rates
// of each slice with the gadget ("on") are compared with the mean of the
// slices just before and after it ("off"): on a shared virtual machine
// whose CPUs change speed every few seconds (an SMT sibling gets busy),
// that comparison holds where separate runs seconds apart do not.
//
// -mode trivial switches a program that only returns TCX_NEXT on TCX
// ingress and egress of both veth ends instead (what the hooks cost by
// themselves), and -mode none switches nothing: how far the ratios stray
// when nothing changes, the method's noise floor.
//
// -proto tcp streams TCP instead, from a to b over one connection (64 KiB
// writes, as iperf3 does): its rates are bytes per second, and there is
// no accounting check (a long connection's counters are read at each
// detach, as at each interval).
//
// It prints one JSON object on stdout: the median on/off ratios of the
// packets sent and received per second, their ranges, the median rates and
// the number of compared slices. With network-graph, the datagrams
// received while it was attached are also checked against its edges at the
// end ("accounted").
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/hack/bench/internal/alternate"
)

func main() {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	var f alternate.Flags
	f.Register(fs, "sender", "receiver", "flood")
	dst := fs.String("dst", "", "receiver address in namespace b, IPv4:port")
	proto := fs.String("proto", "udp", "udp (64-byte datagrams) or tcp (a stream)")
	_ = fs.Parse(os.Args[1:])
	addr, err := netip.ParseAddrPort(*dst)
	switch {
	case fs.NArg() != 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case err != nil || !addr.Addr().Is4():
		err = fmt.Errorf("-dst %q must be the receiver's IPv4:port, e.g. 10.99.0.2:5300", *dst)
	case *proto != "udp" && *proto != "tcp":
		err = fmt.Errorf("-proto %q: use udp or tcp", *proto)
	default:
		err = f.Check()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		fmt.Fprintln(os.Stderr, "usage: flood -a NETNS -b NETNS -dst IPv4:PORT [-seconds 20] [-slice 500ms] [-mode network-graph|network-graph-tcx|trivial|none]")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, log, f, addr, *proto)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

// result is what one run reports; rates per second, of datagrams (udp) or
// bytes (tcp).
type result struct {
	Mode          string     `json:"mode"`
	Proto         string     `json:"proto"`
	Slices        int        `json:"slices"` // "on" slices compared
	SentRatio     float64    `json:"sent_ratio"`
	SentRange     [2]float64 `json:"sent_range"`
	RecvRatio     float64    `json:"recv_ratio"`
	RecvRange     [2]float64 `json:"recv_range"`
	OnSentPPS     float64    `json:"on_sent_pps"`
	OffSentPPS    float64    `json:"off_sent_pps"`
	OnRecvPPS     float64    `json:"on_recv_pps"`
	OffRecvPPS    float64    `json:"off_recv_pps"`
	SwitchMS      float64    `json:"switch_ms"` // median time of an attach or detach of both namespaces
	Received      uint64     `json:"received"`
	EdgePackets   uint64     `json:"edge_packets"`    // counted by the gadget at b, HOST
	CountedOnRecv uint64     `json:"counted_on_recv"` // received while attached, lower bound of EdgePackets
	Accounted     bool       `json:"accounted"`
}

func run(ctx context.Context, log *slog.Logger, f alternate.Flags, dst netip.AddrPort, proto string) (result, error) {
	var res result
	mode, nsA, nsB := f.Mode, f.A, f.B
	sa := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	var recvFD, sendFD int
	var err error
	if proto == "tcp" {
		recvFD, sendFD, err = tcpPair(nsA, nsB, sa)
		if err != nil {
			return res, err
		}
	} else {
		recvFD, err = socketIn(nsB, unix.SOCK_DGRAM, func(fd int) error { return unix.Bind(fd, sa) })
		if err != nil {
			return res, fmt.Errorf("receiver: %w", err)
		}
		sendFD, err = socketIn(nsA, unix.SOCK_DGRAM, func(fd int) error { return unix.Connect(fd, sa) })
		if err != nil {
			unix.Close(recvFD)
			return res, fmt.Errorf("sender: %w", err)
		}
	}
	defer unix.Close(recvFD)
	defer unix.Close(sendFD)

	// With network-graph: the HOST udp packets to the port at b, over all
	// batches.
	var counted atomic.Uint64
	sw, err := alternate.New(ctx, log, mode, []string{nsA, nsB}, func(evs []types.Event) {
		for _, e := range evs {
			if e.Pod == nsB && e.PktType == types.PktTypeHost && e.Proto == "udp" && e.Port == int(dst.Port()) {
				counted.Add(e.Packets)
			}
		}
	})
	if err != nil {
		return res, err
	}
	defer sw.Close(context.WithoutCancel(ctx))
	res.Mode, res.Proto = mode, proto

	var sent, recv, recvOn atomic.Uint64
	var state alternate.State
	done := make(chan struct{})
	var wg sync.WaitGroup
	// The sender's CPU also runs both ends' network-graph programs: veth
	// hands the datagram to the receiving namespace on the same CPU.
	sendCPU, recvCPU := -1, -1
	if runtime.NumCPU() >= 2 {
		sendCPU, recvCPU = 0, 1
	}
	if proto == "tcp" {
		wg.Go(func() { pin(sendCPU); stream(sendFD, &sent, done) })
		wg.Go(func() { pin(recvCPU); sink(recvFD, &recv, done) })
	} else {
		wg.Go(func() { pin(sendCPU); flood(sendFD, &sent, done) })
		wg.Go(func() { pin(recvCPU); drain(recvFD, &recv, &recvOn, &state, done) })
	}
	defer func() {
		close(done)
		// The receiver may block in its read: shutting its socket down
		// wakes it.
		_ = unix.Shutdown(recvFD, unix.SHUT_RDWR)
		_ = unix.Shutdown(sendFD, unix.SHUT_RDWR) // a TCP writer may block on a full buffer
		wg.Wait()
	}()

	r, err := alternate.Run(ctx, sw, &state, f.Options(), &sent, &recv)
	if err != nil {
		return res, err
	}
	s, v := r.Figures[0], r.Figures[1]
	res.Slices, res.SwitchMS = r.Slices, r.SwitchMS
	res.SentRatio, res.SentRange, res.OnSentPPS, res.OffSentPPS = s.Ratio, s.Range, s.On, s.Off
	res.RecvRatio, res.RecvRange, res.OnRecvPPS, res.OffRecvPPS = v.Ratio, v.Range, v.On, v.Off
	res.Received = recv.Load()
	res.CountedOnRecv = recvOn.Load()
	if alternate.IsGadget(mode) && proto == "udp" {
		// Datagrams received while attached were all seen by b's hooks;
		// a few more pass while a switch is under way.
		res.EdgePackets = counted.Load()
		res.Accounted = res.EdgePackets >= res.CountedOnRecv
	}
	return res, nil
}

// tcpPair connects a TCP socket in namespace a to a listener at sa in b,
// and returns the accepted socket (the receiver) and the connecting one.
func tcpPair(nsA, nsB string, sa *unix.SockaddrInet4) (recvFD, sendFD int, err error) {
	ln, err := socketIn(nsB, unix.SOCK_STREAM, func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
		if err := unix.Bind(fd, sa); err != nil {
			return err
		}
		return unix.Listen(fd, 1)
	})
	if err != nil {
		return -1, -1, fmt.Errorf("listener: %w", err)
	}
	defer unix.Close(ln)
	sendFD, err = socketIn(nsA, unix.SOCK_STREAM, func(fd int) error { return unix.Connect(fd, sa) })
	if err != nil {
		return -1, -1, fmt.Errorf("sender: %w", err)
	}
	recvFD, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(sendFD)
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	return recvFD, sendFD, nil
}

// stream writes 64 KiB at a time to a TCP socket until done is closed,
// counting the bytes.
func stream(fd int, sent *atomic.Uint64, done <-chan struct{}) {
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-done:
			return
		default:
		}
		n, err := unix.Write(fd, buf)
		if err != nil && err != unix.EINTR {
			return
		}
		if n > 0 {
			sent.Add(uint64(n))
		}
	}
}

// sink reads a TCP socket until done is closed and the socket shut down,
// counting the bytes.
func sink(fd int, recv *atomic.Uint64, done <-chan struct{}) {
	buf := make([]byte, 128<<10)
	for {
		n, err := unix.Read(fd, buf)
		select {
		case <-done:
			return
		default:
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		recv.Add(uint64(n))
	}
}

// socketIn opens a blocking socket of type typ in the named namespace and
// sets it up with fn there.
func socketIn(name string, typ int, fn func(fd int) error) (int, error) {
	fd := -1
	err := containers.InNetns("/var/run/netns/"+name, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0); err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		return fn(fd)
	})
	if err != nil && fd >= 0 {
		unix.Close(fd)
	}
	return fd, err
}

// batch is how many datagrams one sendmmsg or recvmmsg moves: batching
// keeps the per-datagram cost of the load generator itself low, so the
// gadget's share of each datagram's cost is as large as it gets.
const batch = 64

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// messages returns batch message headers, each over its own buffer of size
// bytes.
func messages(size int) []mmsghdr {
	msgs := make([]mmsghdr, batch)
	iovs := make([]unix.Iovec, batch)
	bufs := make([]byte, batch*size)
	for i := range msgs {
		iovs[i].Base = &bufs[i*size]
		iovs[i].SetLen(size)
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	return msgs
}

// pin keeps the calling goroutine on its own OS thread on cpu, so the
// sender and the receiver do not trade CPUs between slices (cpu < 0: no
// pinning).
func pin(cpu int) {
	if cpu < 0 {
		return
	}
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(0, &set)
}

// flood sends 64-byte datagrams until done is closed.
func flood(fd int, sent *atomic.Uint64, done <-chan struct{}) {
	msgs := messages(64)
	for {
		select {
		case <-done:
			return
		default:
		}
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
		if errno == 0 {
			sent.Add(uint64(n))
		}
	}
}

// drain reads datagrams until done is closed and the socket shut down
// (which wakes a blocked read), counting those received while the gadget
// is attached apart.
func drain(fd int, recv, recvOn *atomic.Uint64, state *alternate.State, done <-chan struct{}) {
	msgs := messages(2048)
	for {
		// Blocks for the first datagram, then takes what is queued.
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, unix.MSG_WAITFORONE, 0, 0)
		select {
		case <-done:
			return
		default:
		}
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return
		}
		recv.Add(uint64(n))
		if state.Attached() {
			recvOn.Add(uint64(n))
		}
	}
}
