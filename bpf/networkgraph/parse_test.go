package networkgraph

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/gadgetkit/gadget/internal/testenv"
)

// frame is an Ethernet frame of type ethType around l3.
func frame(ethType uint16, l3 []byte) []byte {
	pkt := make([]byte, 14, 14+len(l3))
	binary.BigEndian.PutUint16(pkt[12:], ethType)
	return append(pkt, l3...)
}

// transport is a TCP header with flags and 10 bytes of payload, or a UDP
// header with 64 bytes of payload.
func transport(proto byte, sport, dport uint16, flags byte) []byte {
	var b []byte
	if proto == 6 {
		b = make([]byte, 20+10)
		b[12] = 5 << 4
		b[13] = flags
	} else {
		b = make([]byte, 8+64)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	}
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

// ip4 is an IPv4 packet: options (a multiple of 4 bytes), the fragment
// field (flags and offset), then payload.
func ip4(proto byte, src, dst netip.Addr, options []byte, frag uint16, payload []byte) []byte {
	hl := 20 + len(options)
	b := make([]byte, hl, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(hl+len(payload)))
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = 64
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], options)
	return append(b, payload...)
}

// ip6 is an IPv6 packet whose extension headers ext lead to proto, then
// payload. Each extension header's first byte, where its next-header field
// goes, holds the header's own type; ip6 chains them.
func ip6(proto byte, src, dst netip.Addr, ext [][]byte, payload []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	b[7] = 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	next := 6 // offset of the next-header field to fill
	for _, e := range ext {
		b[next] = e[0]
		next = len(b)
		b = append(b, e...)
	}
	b[next] = proto
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	return b
}

// TestParse runs packets of every shape the parser handles through the tc
// program at egress and at ingress and through the socket filter (which
// reads the packet through bpf_skb_load_bytes, never in place), and checks
// that each counts the packet on the expected edge or ignores it. The tc
// program reads common IPv4 packets through a fast path and everything
// else through the general one; both must agree with the socket filter.
func TestParse(t *testing.T) {
	testenv.RequirePrivileged(t)
	objs, err := Load(Options{MaxEdges: 256, MaxFlows: 256, TailCalls: true})
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()

	a4, b4 := netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
	a6, b6 := netip.MustParseAddr("fd00:99::1"), netip.MustParseAddr("fd00:99::2")
	const syn = 0x02
	udp := transport(17, 40000, 5201, 0)
	tcp := transport(6, 40000, 5201, syn)
	hopByHop := []byte{0, 0, 1, 4, 0, 0, 0, 0}    // 8 bytes: type 0, PadN
	routing := []byte{43, 0, 0, 0, 0, 0, 0, 0}    // 8 bytes, no segments left
	frag6First := []byte{44, 0, 0, 1, 0, 0, 0, 1} // offset 0, more fragments
	frag6Later := []byte{44, 0, 0, 8, 0, 0, 0, 1} // offset 1 (8 bytes)
	nops := []byte{1, 1, 1, 1}                    // one word of IPv4 options
	cases := []struct {
		name    string
		pkt     []byte
		proto   uint8
		counted bool
	}{
		{"ipv4 udp", frame(0x0800, ip4(17, a4, b4, nil, 0, udp)), 17, true},
		{"ipv4 tcp syn", frame(0x0800, ip4(6, a4, b4, nil, 0, tcp)), 6, true},
		{"ipv4 udp with options", frame(0x0800, ip4(17, a4, b4, nops, 0, udp)), 17, true},
		{"ipv4 tcp with options", frame(0x0800, ip4(6, a4, b4, append(nops, nops...), 0, tcp)), 6, true},
		{"ipv4 first fragment", frame(0x0800, ip4(17, a4, b4, nil, 0x2000, udp)), 17, true},
		{"ipv4 dont fragment", frame(0x0800, ip4(17, a4, b4, nil, 0x4000, udp)), 17, true},
		{"ipv4 later fragment", frame(0x0800, ip4(17, a4, b4, nil, 0x2001, udp)), 17, false},
		{"ipv4 later fragment with options", frame(0x0800, ip4(17, a4, b4, nops, 0x0001, udp)), 17, false},
		{"ipv4 icmp", frame(0x0800, ip4(1, a4, b4, nil, 0, make([]byte, 64))), 1, false},
		{"ipv4 udp truncated in its ports", frame(0x0800, ip4(17, a4, b4, nil, 0, udp[:2])), 17, false},
		{"ipv4 tcp truncated before its flags", frame(0x0800, ip4(6, a4, b4, nil, 0, tcp[:12])), 6, false},
		{"ipv4 udp ports only", frame(0x0800, ip4(17, a4, b4, nil, 0, udp[:4])), 17, true},
		{"ipv6 udp", frame(0x86dd, ip6(17, a6, b6, nil, udp)), 17, true},
		{"ipv6 tcp syn", frame(0x86dd, ip6(6, a6, b6, nil, tcp)), 6, true},
		{"ipv6 udp after hop-by-hop and routing", frame(0x86dd, ip6(17, a6, b6, [][]byte{hopByHop, routing}, udp)), 17, true},
		{"ipv6 first fragment", frame(0x86dd, ip6(17, a6, b6, [][]byte{frag6First}, udp)), 17, true},
		{"ipv6 later fragment", frame(0x86dd, ip6(17, a6, b6, [][]byte{frag6Later}, udp)), 17, false},
		{"ipv6 icmpv6", frame(0x86dd, ip6(58, a6, b6, nil, make([]byte, 64))), 58, false},
		{"arp", frame(0x0806, make([]byte, 28)), 0, false},
		{"ipv4 ethertype, ipv6 header", frame(0x0800, ip6(17, a6, b6, nil, udp)), 17, false},
	}

	type edge struct {
		pktType uint8
		proto   uint8
		family  uint8
		addr    string
		port    uint16
	}
	// Each case and way in gets its own namespace tag, so its edges are
	// its own.
	ways := []struct {
		name     string
		outgoing bool
		prog     func(tag uint32) (*ebpf.Program, error)
	}{
		{"tc egress", true, func(tag uint32) (*ebpf.Program, error) { return objs.TCTagProgram(tag, 14, HookEgress) }},
		{"tc ingress", false, func(tag uint32) (*ebpf.Program, error) { return objs.TCTagProgram(tag, 14, HookIngress) }},
		{"packet socket", false, objs.TagProgram},
	}
	want := map[uint32]edge{}
	names := map[uint32]string{}
	for i, c := range cases {
		for j, w := range ways {
			tag := uint32(i*len(ways) + j + 1)
			names[tag] = c.name + ", " + w.name
			p, err := w.prog(tag)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := p.Test(c.pkt); err != nil {
				t.Fatalf("%s: %v", names[tag], err)
			}
			p.Close()
			if !c.counted {
				continue
			}
			// The sender's edge: to the receiver's port; the receiver's:
			// from the sender, to its own port.
			e := edge{pktType: PacketOutgoing, proto: c.proto, family: 4, addr: b4.String(), port: 5201}
			if !w.outgoing {
				e.pktType, e.addr = PacketHost, a4.String()
			}
			if c.pkt[12] == 0x86 {
				e.family, e.addr = 6, b6.String()
				if !w.outgoing {
					e.addr = a6.String()
				}
			}
			want[tag] = e
		}
	}

	got := map[uint32][]edge{}
	if err := objs.Edges(func(k EdgeKey, v EdgeValue) {
		addr := netip.AddrFrom16(k.Addr)
		if k.Family == 4 {
			addr = netip.AddrFrom4([4]byte(k.Addr[:4]))
		}
		got[k.Netns] = append(got[k.Netns], edge{k.PktType, k.Proto, k.Family, addr.String(), k.Port})
		if v.Packets != 1 {
			t.Errorf("%s: edge counted %d packets, want 1", names[k.Netns], v.Packets)
		}
	}); err != nil {
		t.Fatal(err)
	}
	for tag := uint32(1); tag <= uint32(len(cases)*len(ways)); tag++ {
		w, counted := want[tag]
		switch g := got[tag]; {
		case !counted && len(g) != 0:
			t.Errorf("%s: counted on %+v, want not counted", names[tag], g)
		case counted && (len(g) != 1 || g[0] != w):
			t.Errorf("%s: counted on %+v, want %+v", names[tag], g, w)
		}
	}
}
