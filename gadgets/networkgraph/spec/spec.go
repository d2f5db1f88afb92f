// Package spec is the declaration of the network-graph gadget: its name,
// operations, output modes, parameters, output formats and plugin support,
// everything a client needs, without the tracer (no eBPF). It declares the
// gadget into registry.Declared from init; the gadget itself
// (gadgets/networkgraph) registers the same declaration with its tracer.
package spec

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// Name is the gadget's registered name.
const Name = "network-graph"

// Parameters network-graph accepts in gadget.Config.Parameters.
const (
	// ParamInterval is how often the kernel counters are drained into a
	// batch, as a Go duration (default 2s, at least 100ms).
	ParamInterval = "interval"
	// ParamMaxEdges bounds the edges recorded at once (default 16384). The
	// edges' counters take 32 bytes of kernel memory per CPU each, all
	// allocated when the trace starts (the default: 512 KiB per CPU).
	ParamMaxEdges = "max-edges"
	// ParamAttach is how the kernel programs see a namespace's traffic:
	// "socket" (the default) counts TCP per connection at its sockets (a
	// program on the kernel's inet_sock_set_state tracepoint for
	// handshakes and closes, a TCP socket iterator at every interval for
	// live connections) and UDP
	// at TCX, whose program lets TCP packets by at once; "tcx" counts both
	// at TCX ingress and egress of each interface (loopback at egress
	// only, counting both ends); "packet" through a packet socket
	// (kernels 5.12 to 6.5; the packet tap costs a clone per transmitted
	// packet). A kernel without what socket needs (BTF, tp_btf tracepoint
	// programs, BPF iterators) falls back to tcx, and one without TCX
	// to packet, with a log line and a warning event.
	ParamAttach = "attach"
)

// Values of ParamAttach.
const (
	AttachSocket = "socket"
	AttachTCX    = "tcx"
	AttachPacket = "packet"
)

// Defaults and bounds of the parameters.
const (
	DefaultInterval = 2 * time.Second
	MinInterval     = 100 * time.Millisecond
	// DefaultMaxEdges is the default of ParamMaxEdges; the kernel map of
	// bpf/networkgraph has as many entries by default.
	DefaultMaxEdges = 16384
	// MaxMaxEdges bounds ParamMaxEdges: its counters are allocated when the
	// trace starts, 32 bytes per edge and CPU (1 Mi edges: 32 MiB per CPU).
	MaxMaxEdges = 1 << 20
)

// Options are the parsed parameters of a trace.
type Options struct {
	Interval time.Duration
	MaxEdges uint32
	Attach   string
}

// ParseParameters validates the trace parameters; errors name the
// parameter and the fix.
func ParseParameters(params map[string]string) (Options, error) {
	opts := Options{Interval: DefaultInterval, MaxEdges: DefaultMaxEdges, Attach: AttachSocket}
	for k, v := range params {
		switch k {
		case ParamInterval:
			d, err := time.ParseDuration(v)
			if err != nil || d < MinInterval {
				return opts, fmt.Errorf("parameter %s=%q: want a duration of at least %v, e.g. 2s", k, v, MinInterval)
			}
			opts.Interval = d
		case ParamMaxEdges:
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 || n > MaxMaxEdges {
				return opts, fmt.Errorf("parameter %s=%q: want a whole number from 1 to %d, e.g. 16384 (the counters take 32 bytes of kernel memory per edge and CPU, allocated at start)", k, v, MaxMaxEdges)
			}
			opts.MaxEdges = uint32(n)
		case ParamAttach:
			if v != AttachSocket && v != AttachTCX && v != AttachPacket {
				return opts, fmt.Errorf("parameter %s=%q: want %s, %s or %s", k, v, AttachSocket, AttachTCX, AttachPacket)
			}
			opts.Attach = v
		default:
			return opts, fmt.Errorf("parameter %q: unknown to network-graph; known: %s, %s, %s", k, ParamInterval, ParamMaxEdges, ParamAttach)
		}
	}
	return opts, nil
}

// Info returns the gadget's declaration, without New.
func Info() *gadget.Info {
	return &gadget.Info{
		Name:         Name,
		Description:  "The network-graph gadget monitors the network activity in the specified pods and records the list of TCP connections and UDP streams.",
		Operations:   gadget.StartStop(Name),
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream, gadget.OutputModeStatus},
		TypesPackage: "github.com/gadgetkit/gadget/gadgets/networkgraph/types",
		Example: gadget.ExampleTrace{
			Name:       "network-graph",
			Namespace:  "gadget",
			Node:       "albantyphoon-worker000003",
			Filter:     gadget.Filter{Namespace: "demo"},
			RunMode:    "Manual",
			OutputMode: gadget.OutputModeStream,
		},
		// Remote addresses are named from the DNS answers the pods
		// received, when a registered gadget (dns) provides them.
		Uses:    []gadget.Capability{gadget.CapabilityDNSNames},
		Formats: format.Names(),
		NewOutput: func(name string, w io.Writer, errw io.Writer) (gadget.Output, error) {
			return format.New(name, w, errw)
		},
		Parameters: []gadget.Parameter{
			{Name: ParamInterval, Default: DefaultInterval.String(), Flag: true,
				Doc: "how often the kernel's counters are read, at least " + MinInterval.String()},
			{Name: ParamMaxEdges, Default: strconv.Itoa(DefaultMaxEdges),
				Doc: "the edges recorded at once; 32 bytes of kernel memory per edge and CPU, allocated at start"},
			{Name: ParamAttach, Default: AttachSocket,
				Doc: "how the kernel programs see a namespace's traffic: socket (TCP per connection at its sockets, UDP at TCX), tcx (every packet at TCX), or packet (a packet socket); socket falls back to tcx where the kernel lacks it"},
		},
		NewBatch: func(merge bool) gadget.BatchBuilder { return &batch{merge: merge} },
		Advice: &gadget.Advice{
			Format: format.NetworkPolicy,
			Short:  "Turn a recording (JSON array or JSON lines) into NetworkPolicies (-o ciliumnetworkpolicy: CiliumNetworkPolicies), offline",
		},
		CheckParameters: func(params map[string]string) error {
			_, err := ParseParameters(params)
			return err
		},
		Extensions: []gadget.Extension{&pipeline.Support{
			Formatters:     format.Plugins,
			Fallback:       format.JSON,
			Final:          format.FinalGraph,
			NewMerger:      format.NewMerger,
			Messages:       format.WriteMessages,
			MessagesValues: format.WriteMessagesValues,
			CheckEnriched:  format.CheckEdgesKept,
			// An enricher's result is decoded once, and goes on as
			// []types.Event.
			Decode:              format.Decode,
			CheckEnrichedValues: format.CheckEdgesKeptValues,
			CheckEvent:          format.CheckEvent,
		}, &Samples},
	}
}

// Samples are the batches `gadget plugin test` checks a plugin with: two
// ordinary edges; a warning and an edge with values to escape, unicode
// and a field network-graph does not define.
var Samples = plugincheck.Samples{
	Ordinary: `[{"node":"n1","namespace":"demo","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.1","port":80,"packets":3,"bytes":180},` +
		`{"node":"n1","namespace":"demo","pod":"web","pktType":"HOST","proto":"udp","ip":"10.0.0.2","port":53}]`,
	Unusual: `[{"type":"warn","node":"n1","message":"12 edges dropped: the map is full"},` +
		`{"node":"n1","pod":"p\u00e9 \"q\"","pktType":"OUTGOING","proto":"tcp","ip":"fe80::1%eth0","port":65535,"podLabels":{"app":"a,b"},` +
		plugincheck.UnknownField + `}]`,
}

func init() {
	registry.MustDeclare(Info())
}

// batch builds a batch of network-graph events from their JSON form.
type batch struct {
	merge  bool
	graph  types.Graph
	events []types.Event
}

func (b *batch) Add(event []byte) error {
	e, err := format.DecodeEvent(event)
	if err != nil {
		return err
	}
	if b.merge {
		b.graph.Add(e)
	} else {
		b.events = append(b.events, e)
	}
	return nil
}

func (b *batch) Len() int {
	if b.merge {
		return b.graph.Len()
	}
	return len(b.events)
}

// Batch returns the []types.Event added: with merge, the unique graph.
func (b *batch) Batch() any {
	if b.merge {
		return b.graph.Events()
	}
	return b.events
}
