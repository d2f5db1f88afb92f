package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// Types generated from the C structs in bpf/include/dns.h.
type (
	// Record is one captured DNS packet as the kernel writes it into the
	// ring buffer.
	Record = dnsDnsEvent
	// Stat indexes the kernel-side counters read by Stats.
	Stat = dnsDnsStat
)

// Kernel-side counters of what could not be captured.
const (
	// StatRingFull counts DNS packets lost because the ring buffer was
	// full.
	StatRingFull = dnsDnsStatDNS_STAT_RING_FULL
	// StatLoadFailed counts DNS packets whose payload could not be read.
	StatLoadFailed = dnsDnsStatDNS_STAT_LOAD_FAILED
	// NumStats is the number of counters Stats returns.
	NumStats = int(dnsDnsStatDNS_STAT_MAX)
)

// Sizes of the captured payload (DNS_MAX_* in dns.h).
const (
	// MaxUDPPayload bounds the bytes copied of a UDP packet's payload.
	MaxUDPPayload = 512
	// MaxPayload bounds the bytes copied of a TCP segment's payload: the
	// 2-byte length prefix and 512 bytes of message.
	MaxPayload = 514
)

// Packet types of Record.PktType (linux/if_packet.h).
const (
	PacketHost     = 0
	PacketOutgoing = 4
)

// DefaultRingSize is the ring buffer's size when Options.RingSize is 0:
// room for about 900 packets in flight.
const DefaultRingSize = 512 << 10

// Options configure Load. Zero values take the defaults.
type Options struct {
	// Port is the DNS server port to capture (default 53): packets from or
	// to it are copied.
	Port uint16
	// RingSize is the ring buffer's size in bytes, a power of two and a
	// multiple of the page size (default DefaultRingSize). Each packet
	// takes sizeof(Record) (568 bytes) plus an 8-byte header.
	RingSize uint32
}

// Objects are the shared ring buffer and counters, and the program spec
// loaded once per watched namespace (Program). Close releases them.
type Objects struct {
	spec *ebpf.CollectionSpec
	maps dnsMaps
}

// Load creates the ring buffer and the counters. It needs CAP_BPF (root).
// The program itself is loaded by Program, once per namespace.
func Load(opts Options) (*Objects, error) {
	if opts.Port == 0 {
		opts.Port = 53
	}
	if opts.RingSize == 0 {
		opts.RingSize = DefaultRingSize
	}
	spec, err := loadDns()
	if err != nil {
		return nil, fmt.Errorf("read dns eBPF object: %w", err)
	}
	port, ok := spec.Variables[dnsVarDnsPort]
	if !ok {
		return nil, errors.New("dns eBPF object has no dns_port variable: regenerate it (make generate-bpf)")
	}
	if err := port.Set(opts.Port); err != nil {
		return nil, fmt.Errorf("set the dns port: %w", err)
	}
	spec.Maps[dnsMapEvents].MaxEntries = opts.RingSize
	o := &Objects{spec: spec}
	if err := spec.LoadAndAssign(&o.maps, nil); err != nil {
		return nil, fmt.Errorf("create the dns ring buffer and counters (ring size %d): %w", opts.RingSize, err)
	}
	return o, nil
}

// Program loads the capture program for the namespace tag: a socket
// filter for an AF_PACKET socket whose records carry tag. Each call runs
// the verifier on a program of about a hundred instructions (well under a
// millisecond). The caller attaches it to a socket and then closes it.
func (o *Objects) Program(tag uint32) (*ebpf.Program, error) {
	spec := o.spec.Copy()
	if err := spec.Variables[dnsVarNetnsTag].Set(tag); err != nil {
		return nil, fmt.Errorf("set the namespace tag %d: %w", tag, err)
	}
	var progs dnsPrograms
	err := spec.LoadAndAssign(&progs, &ebpf.CollectionOptions{
		MapReplacements: map[string]*ebpf.Map{dnsMapEvents: o.maps.Events, dnsMapStats: o.maps.Stats},
	})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load dns eBPF program: %+v", verr)
		}
		return nil, fmt.Errorf("load dns eBPF program: %w", err)
	}
	return progs.DnsCapture, nil
}

// NewReader returns a reader of the ring buffer. Close it before Close.
func (o *Objects) NewReader() (*ringbuf.Reader, error) {
	rd, err := ringbuf.NewReader(o.maps.Events)
	if err != nil {
		return nil, fmt.Errorf("open the dns ring buffer: %w", err)
	}
	return rd, nil
}

// Stats returns the kernel-side counters, summed over CPUs and cumulative
// since Load.
func (o *Objects) Stats() ([NumStats]uint64, error) {
	var out [NumStats]uint64
	for i := range out {
		var perCPU []uint64
		if err := o.maps.Stats.Lookup(Stat(i), &perCPU); err != nil {
			return out, fmt.Errorf("read dns stats: %w", err)
		}
		for _, n := range perCPU {
			out[i] += n
		}
	}
	return out, nil
}

// Close releases the ring buffer and the counters.
func (o *Objects) Close() error {
	return o.maps.Close()
}

// recordSize is the size of a Record in the ring buffer.
const recordSize = int(unsafe.Sizeof(Record{}))

// ErrShortRecord is returned by Decode for a sample shorter than a Record.
var ErrShortRecord = errors.New("dns ring buffer record too short")

// Decode fills r from one ring buffer sample without allocating; Payload
// then returns its captured bytes.
func Decode(sample []byte, r *Record) error {
	if len(sample) < recordSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrShortRecord, len(sample), recordSize)
	}
	le := binary.LittleEndian
	r.Timestamp = le.Uint64(sample[0:])
	r.Netns = le.Uint32(sample[8:])
	r.Len = le.Uint16(sample[12:])
	r.OrigLen = le.Uint16(sample[14:])
	r.Sport = le.Uint16(sample[16:])
	r.Dport = le.Uint16(sample[18:])
	r.Family = sample[20]
	r.Proto = sample[21]
	r.PktType = sample[22]
	r.Pad = sample[23]
	copy(r.Saddr[:], sample[24:40])
	copy(r.Daddr[:], sample[40:56])
	copy(r.Data[:], sample[56:56+MaxPayload])
	return nil
}

// Payload returns the captured bytes of r's payload.
func Payload(r *Record) []byte {
	return r.Data[:min(int(r.Len), MaxPayload)]
}

// Addrs returns r's source and destination addresses.
func Addrs(r *Record) (src, dst netip.Addr) {
	if r.Family == 4 {
		return netip.AddrFrom4([4]byte(r.Saddr[:4])), netip.AddrFrom4([4]byte(r.Daddr[:4]))
	}
	return netip.AddrFrom16(r.Saddr), netip.AddrFrom16(r.Daddr)
}

// MemoryEstimate is the most kernel memory, in bytes, that Load(opts)
// pins with ncpu possible CPUs: the ring buffer, the counters and each
// map's own overhead, plus the capture program of one namespace (Program
// loads one more per watched namespace, a few KiB each).
func MemoryEstimate(opts Options, ncpu int) uint64 {
	if opts.RingSize == 0 {
		opts.RingSize = DefaultRingSize
	}
	const mapOverhead, progOverhead = 4 << 10, 64 << 10
	return uint64(opts.RingSize) + 2*4096 + uint64(NumStats)*8*uint64(max(ncpu, 1)) + 2*mapOverhead + progOverhead
}
