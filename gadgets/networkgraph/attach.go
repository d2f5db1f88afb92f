package networkgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/packetsock"
)

// attachment is one watched network namespace: the TCX links (or the
// packet socket) carrying its tag programs, and what its edges are tagged
// with.
type attachment struct {
	target gadget.Target
	// tag: with the tail-call variant, a number of this instance's; with
	// the tag-free programs, the one they give the namespace
	// (ngbpf.NetnsTag of its cookie), set by netnsTagLocked.
	tag   uint32
	sock  *os.File     // attach=packet
	links []link.Link  // attach=tcx: the TCX hooks of each interface (tcHooks)
	addrs []netip.Addr // the namespace's own addresses, for local enrichment
	// attach=tcx: the interfaces hooked, by index, and the netlink socket
	// reporting new ones.
	hooked     map[int]bool
	linkEvents *os.File
}

// closers returns what keeps a attached.
func (a *attachment) closers() []io.Closer {
	out := make([]io.Closer, 0, len(a.links)+1)
	if a.sock != nil {
		out = append(out, a.sock)
	}
	if a.linkEvents != nil {
		out = append(out, a.linkEvents)
	}
	for _, l := range a.links {
		out = append(out, l)
	}
	return out
}

func (in *instance) attachLocked(ctx context.Context, t gadget.Target) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("attach %s: %w", t.NetnsPath, err)
	}
	if t.ID == "" || t.NetnsPath == "" {
		return fmt.Errorf("network-graph: target %+v: ID and NetnsPath are required", t)
	}
	a := &attachment{target: t}
	if in.objs.TailCalls() {
		in.nextTag++
		a.tag = in.nextTag
	}
	var err error
	if in.opts.Attach == AttachTCX {
		err = in.attachTCX(a)
		if errors.Is(err, ebpf.ErrNotSupported) {
			in.log.Warn("TCX not supported by this kernel: attaching through a packet socket instead", "netns", t.NetnsPath)
			in.opts.Attach = AttachPacket
		}
	}
	if in.opts.Attach == AttachPacket {
		err = in.attachPacket(a)
	}
	if err == nil && in.mode == AttachSocket {
		err = in.watchConnsLocked(a)
	}
	if err != nil {
		closeConcurrently(a.closers())
		in.tcpStateOffIfIdleLocked()
		return fmt.Errorf("attach to %s (%s): %w", t.Pod, t.NetnsPath, err)
	}
	in.byID[t.ID] = a
	in.byTag[a.tag] = a
	in.log.Debug("attached", "netns", t.NetnsPath, "pod", t.Pod, "tag", a.tag, "mode", in.mode)
	return nil
}

// watchConnsLocked has attach=socket's programs follow the TCP connections
// of a's namespace: from now on those whose handshake ends, and, read at
// once, those open already, whose counters so far are their baseline
// (counted from now on, not from their start).
func (in *instance) watchConnsLocked(a *attachment) error {
	if err := in.tcpStateOnLocked(); err != nil {
		return err
	}
	if err := in.objs.WatchNetns(a.tag); err != nil {
		return err
	}
	err := in.readConnsLocked(a)
	if err == nil {
		err = in.objs.WatchNetnsWalked(a.tag)
	}
	if err != nil {
		in.objs.UnwatchNetns(a.tag)
		return err
	}
	return nil
}

// readConnsLocked counts what the live TCP connections of a's namespace
// did since the last read (attach=socket), from a thread in the namespace:
// the iterator walks the namespace it is opened in.
func (in *instance) readConnsLocked(a *attachment) error {
	if err := containers.InNetns(a.target.NetnsPath, in.objs.ReadConnections); err != nil {
		return fmt.Errorf("read the TCP connections of %s: %w", a.target.NetnsPath, err)
	}
	return nil
}

// attachTCX attaches a tag program at TCX ingress and egress of every
// interface of a's namespace (see hookInterfacesLocked), and follows the
// interfaces created in it later (RTM_NEWLINK) to hook them too.
func (in *instance) attachTCX(a *attachment) error {
	a.hooked = map[int]bool{}
	// Subscribe before listing, so no interface falls in between.
	err := containers.InNetns(a.target.NetnsPath, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("open netlink socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("subscribe to interface changes: %w", err)
		}
		if in.linkRcvBuf > 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, in.linkRcvBuf); err != nil {
				unix.Close(fd)
				return fmt.Errorf("size the interface changes' buffer: %w", err)
			}
		}
		a.linkEvents = os.NewFile(uintptr(fd), "network-graph-links:"+a.target.ID)
		a.addrs = localAddrs()
		return nil
	})
	if err != nil {
		return err
	}
	if err := in.netnsTagLocked(a, int(a.linkEvents.Fd())); err != nil {
		return err
	}
	if err := in.hookInterfacesLocked(a); err != nil {
		return err
	}
	in.watchers.Add(1)
	go in.followInterfaces(a)
	return nil
}

// followInterfaces hooks the interfaces created in a's namespace while it
// is attached; it ends when a's netlink socket is closed. It waits for the
// socket without a buffer of its own (RawConn.Read calls back once it is
// readable) and reads into a pooled one: hundreds of namespaces wait at
// once, and a buffer each would be most of their memory.
func (in *instance) followInterfaces(a *attachment) {
	defer in.watchers.Done()
	rc, err := a.linkEvents.SyscallConn()
	if err != nil {
		in.log.Warn("follow new interfaces", "netns", a.target.NetnsPath, "error", err)
		return
	}
	for {
		var newLink bool
		var readErr error
		err := rc.Read(func(fd uintptr) bool {
			bp := in.linkBufs.Get().(*[]byte)
			defer in.linkBufs.Put(bp)
			n, _, err := unix.Recvfrom(int(fd), *bp, unix.MSG_DONTWAIT)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // not readable after all: wait again
			case errors.Is(err, unix.ENOBUFS):
				// The kernel dropped events (the socket overran): look
				// at every interface again.
				newLink = true
			case err != nil:
				readErr = err
			default:
				msgs, err := syscall.ParseNetlinkMessage((*bp)[:n])
				newLink = err == nil && slices.ContainsFunc(msgs, func(m syscall.NetlinkMessage) bool { return m.Header.Type == unix.RTM_NEWLINK })
			}
			return true
		})
		if err != nil || readErr != nil {
			return // closed: detached or stopped
		}
		if !newLink {
			continue
		}
		in.mu.Lock()
		if in.byID[a.target.ID] == a && in.objs != nil {
			if err := in.hookInterfacesLocked(a); err != nil {
				in.log.Warn("hook a new interface", "netns", a.target.NetnsPath, "pod", a.target.Pod, "error", err)
			}
		}
		in.mu.Unlock()
	}
}

// hookInterfacesLocked attaches a's tag programs at TCX ingress and egress
// of the interfaces of its namespace not hooked yet; loopback only at
// egress, where one run counts a packet for both ends (ngbpf.HookLoopback):
// each TCX attachment waits for an RCU grace period, so that is one wait
// less per namespace.
func (in *instance) hookInterfacesLocked(a *attachment) error {
	progs := map[tcHook]*ebpf.Program{}
	defer func() {
		for _, p := range progs {
			p.Close()
		}
	}()
	prog := func(k tcHook) (*ebpf.Program, error) {
		if !in.objs.TailCalls() {
			return in.objs.TCProgram(), nil // shared, not closed here
		}
		if p, ok := progs[k]; ok {
			return p, nil
		}
		p, err := in.objs.TCTagProgram(a.tag, k.l3, k.hook)
		if err != nil {
			return nil, err
		}
		progs[k] = p
		return p, nil
	}
	return containers.InNetns(a.target.NetnsPath, func() error {
		ifaces, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("list interfaces: %w", err)
		}
		for _, ifi := range ifaces {
			if a.hooked[ifi.Index] {
				continue
			}
			for _, h := range tcHooks(ifi) {
				p, err := prog(h)
				if err != nil {
					return err
				}
				l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: p, Attach: h.attach})
				if err != nil {
					return fmt.Errorf("attach TCX to %s: %w", ifi.Name, err)
				}
				a.links = append(a.links, l)
			}
			a.hooked[ifi.Index] = true
			a.addrs = localAddrs()
		}
		return nil
	})
}

// tcHook is one TCX attachment of a tag program.
type tcHook struct {
	attach ebpf.AttachType
	hook   ngbpf.Hook
	l3     uint32 // link-layer header length
}

// tcHooks lists the attachments an interface takes: ingress and egress,
// or egress alone for loopback.
func tcHooks(ifi net.Interface) []tcHook {
	// Ethernet-like devices (and loopback) carry a 14-byte link-layer
	// header; L3 devices (tun, wireguard) none.
	l3 := uint32(0)
	if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) == 6 {
		l3 = 14
	}
	if ifi.Flags&net.FlagLoopback != 0 {
		return []tcHook{{ebpf.AttachTCXEgress, ngbpf.HookLoopback, l3}}
	}
	return []tcHook{
		{ebpf.AttachTCXIngress, ngbpf.HookIngress, l3},
		{ebpf.AttachTCXEgress, ngbpf.HookEgress, l3},
	}
}

// attachPacket opens a packet socket in a's namespace with the shared
// socket filter (or, with the tail-call variant, a tag program) as its
// filter.
func (in *instance) attachPacket(a *attachment) error {
	err := containers.InNetns(a.target.NetnsPath, func() (err error) {
		a.sock, err = packetsock.New("network-graph:" + a.target.ID)
		a.addrs = localAddrs()
		return err
	})
	if err != nil {
		return err
	}
	if !in.objs.TailCalls() {
		if err := in.netnsTagLocked(a, int(a.sock.Fd())); err != nil {
			return err
		}
		return packetsock.Attach(a.sock, in.objs.SocketProgram().FD())
	}
	prog, err := in.objs.TagProgram(a.tag)
	if err != nil {
		return err
	}
	defer prog.Close()
	return packetsock.Attach(a.sock, prog.FD())
}

// netnsTagLocked sets a's tag to the one the tag-free programs give its
// namespace (nothing to do with the tail-call variant, whose tag programs
// carry an instance's number). fd is a socket opened in the namespace:
// its SO_NETNS_COOKIE names the namespace. A namespace is watched once per
// trace: a second target in a namespace already watched is refused by
// name. A namespace whose hooks are still closing (its target removed a
// moment ago) is waited for: its edges are deleted once they are closed
// (forgetLocked), and the new attachment's must not go with them.
func (in *instance) netnsTagLocked(a *attachment, fd int) error {
	if in.objs.TailCalls() {
		return nil
	}
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return fmt.Errorf("read the network namespace cookie (SO_NETNS_COOKIE): %w", err)
	}
	tag := ngbpf.NetnsTag(cookie)
	for in.closing[tag] && !in.stopped {
		in.forgotten.Wait()
	}
	if in.stopped {
		return errors.New("network-graph: instance stopped")
	}
	if o, ok := in.byTag[tag]; ok {
		return fmt.Errorf("network namespace %s is already watched by this trace as %s (pod %q)", a.target.NetnsPath, o.target.NetnsPath, o.target.Pod)
	}
	a.tag = tag
	return nil
}

// localAddrs lists the addresses of the current network namespace.
func localAddrs() []netip.Addr {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// detachLocked forgets a; the caller closes its hooks and then calls
// forgetLocked.
func (in *instance) detachLocked(a *attachment) {
	delete(in.byID, a.target.ID)
	delete(in.byTag, a.tag)
	in.closing[a.tag] = true
	if in.mode == AttachSocket {
		// Its connections are counted no more: their records are stale
		// (a later watch has a new epoch). Its edges go once its TCX
		// links are closed (an RCU grace period: no program run still
		// holds the namespace as watched).
		if err := in.objs.UnwatchNetns(a.tag); err != nil {
			in.log.Warn("stop following TCP connections", "netns", a.target.NetnsPath, "error", err)
		}
		in.tcpStateOffIfIdleLocked()
	}
	in.log.Debug("detached", "netns", a.target.NetnsPath, "pod", a.target.Pod)
}

// forgetLocked deletes the edges of the namespace tag, whose hooks are
// closed: no packet reaches their counters any more, so the kernel may
// reuse their ids (ngbpf.Objects.DeleteEdges).
func (in *instance) forgetLocked(tag uint32) error {
	delete(in.closing, tag)
	in.forgotten.Broadcast()
	var gone []ngbpf.EdgeKey
	for k := range in.last {
		if k.Netns == tag {
			gone = append(gone, k)
			delete(in.last, k)
		}
	}
	if in.objs == nil {
		return nil // stopped meanwhile: the maps are gone
	}
	// The records of its TCP connections (attach=socket) are stale since
	// UnwatchNetns: they count on no edge any more.
	return in.objs.DeleteEdges(gone)
}
