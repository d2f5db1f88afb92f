package dns

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestRecordLayout(t *testing.T) {
	if got := int(unsafe.Sizeof(Record{})); got != 576 {
		t.Fatalf("sizeof(Record) = %d, want 576 (bpf/include/dns.h changed: update Decode)", got)
	}
	if got := int(unsafe.Offsetof(Record{}.Data)); got != 56 {
		t.Fatalf("offsetof(Record.Data) = %d, want 56", got)
	}
}

// attach opens a packet socket in ns with prog as its filter.
func attach(t *testing.T, ns *testenv.Netns, prog *ebpf.Program) {
	t.Helper()
	var fd int
	if err := ns.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD()); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0x0300}); err != nil { // htons(ETH_P_ALL)
		t.Fatal(err)
	}
}

// TestCapture checks that the program copies DNS packets, and only them,
// and measures what it costs per packet that is not DNS (go test -v).
func TestCapture(t *testing.T) {
	testenv.RequirePrivileged(t)
	a := testenv.NewNetns(t, "client")
	b := testenv.NewNetns(t, "server")
	p := testenv.Link(t, a, b)
	b.UDPEchoServer(t, netip.AddrPortFrom(p.B4, 9000).String())
	b.UDPEchoServer(t, netip.AddrPortFrom(p.B6, 53).String())

	objs, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	prog, err := objs.Program(7)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	rd, err := objs.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	attach(t, a, prog)
	// A program that does nothing, on a socket of its own, times what
	// the statistics themselves cost per run.
	trivial, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "Dual BSD/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer trivial.Close()
	attach(t, a, trivial)

	// Not DNS: nothing is copied.
	const n = 2000
	progs := []*ebpf.Program{prog, trivial}
	var before, after [2]*ebpf.ProgramStats
	for i, pr := range progs {
		if before[i], err = pr.Stats(); err != nil {
			t.Fatal(err)
		}
	}
	a.UDPExchange(t, netip.AddrPortFrom(p.B4, 9000).String(), n, 64)
	for i, pr := range progs {
		if after[i], err = pr.Stats(); err != nil {
			t.Fatal(err)
		}
	}
	nsPerRun := func(i int) (uint64, float64) {
		runs := after[i].RunCount - before[i].RunCount
		return runs, float64(after[i].Runtime-before[i].Runtime) / float64(max(runs, 1))
	}
	runs, ns := nsPerRun(0)
	_, trivialNs := nsPerRun(1)
	if runs < 2*n {
		t.Errorf("%d runs for %d datagrams and their replies, want at least %d", runs, n, 2*n)
	}
	t.Logf("not DNS: %d runs, %.0f ns per run, a program that does nothing %.0f ns: %.0f ns of its own",
		runs, ns, trivialNs, ns-trivialNs)
	rd.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if rec, err := rd.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a packet that is not DNS was copied: %v, %d bytes", err, len(rec.RawSample))
	}

	// DNS (port 53, IPv6): the query and its echo are copied.
	payload := bytes.Repeat([]byte{0xab}, 600) // longer than the capture
	var c net.Conn
	if err := a.Do(func() (err error) {
		c, err = net.Dial("udp", netip.AddrPortFrom(p.B6, 53).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	var got []Record
	for len(got) < 2 {
		rd.SetDeadline(time.Now().Add(5 * time.Second))
		var rec ringbuf.Record
		if err := rd.ReadInto(&rec); err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		var r Record
		if err := Decode(rec.RawSample, &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	for i, r := range got {
		src, dst := Addrs(&r)
		out := i == 0
		wantSrc, wantDst := p.A6, p.B6
		if !out {
			wantSrc, wantDst = p.B6, p.A6
		}
		if r.Netns != 7 || r.Family != 6 || r.Proto != unix.IPPROTO_UDP || src != wantSrc || dst != wantDst ||
			(out && r.Dport != 53) || (!out && r.Sport != 53) || r.Len != MaxUDPPayload || r.OrigLen != 600 ||
			!bytes.Equal(Payload(&r), payload[:MaxUDPPayload]) || r.Timestamp == 0 {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	st, err := objs.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st != [NumStats]uint64{} {
		t.Errorf("stats %v, want none lost", st)
	}
}
