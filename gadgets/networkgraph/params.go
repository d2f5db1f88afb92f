package networkgraph

import (
	"fmt"
	"strconv"
	"time"

	ngbpf "github.com/gadgetkit/gadget/bpf/networkgraph"
)

// Parameters network-graph accepts in gadget.Config.Parameters.
const (
	// ParamInterval is how often the kernel counters are drained into a
	// batch, as a Go duration (default 2s, at least 100ms).
	ParamInterval = "interval"
	// ParamMaxEdges bounds the edges recorded at once (default 16384). The
	// edges' counters take 32 bytes of kernel memory per CPU each, all
	// allocated when the trace starts (the default: 512 KiB per CPU).
	ParamMaxEdges = "max-edges"
	// ParamAttach is how the kernel program sees a namespace's packets:
	// "tcx" (the default) at TCX ingress and egress of each of its
	// interfaces (loopback at egress only, counting both ends), or
	// "packet" through a packet socket (kernels 5.12 to 6.5;
	// the packet tap costs a clone per transmitted packet). With tcx, a
	// kernel without TCX falls back to packet, with a log line.
	ParamAttach = "attach"
)

// Values of ParamAttach.
const (
	AttachTCX    = "tcx"
	AttachPacket = "packet"
)

const (
	defaultInterval = 2 * time.Second
	minInterval     = 100 * time.Millisecond
)

type options struct {
	interval time.Duration
	maxEdges uint32
	attach   string
}

// parseParameters validates the trace parameters; errors name the
// parameter and the fix.
// maxMaxEdges bounds ParamMaxEdges: its counters are allocated when the
// trace starts, 32 bytes per edge and CPU (1 Mi edges: 32 MiB per CPU).
const maxMaxEdges = 1 << 20

func parseParameters(params map[string]string) (options, error) {
	opts := options{interval: defaultInterval, maxEdges: ngbpf.DefaultMaxEdges, attach: AttachTCX}
	for k, v := range params {
		switch k {
		case ParamInterval:
			d, err := time.ParseDuration(v)
			if err != nil || d < minInterval {
				return opts, fmt.Errorf("parameter %s=%q: want a duration of at least %v, e.g. 2s", k, v, minInterval)
			}
			opts.interval = d
		case ParamMaxEdges:
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n == 0 || n > maxMaxEdges {
				return opts, fmt.Errorf("parameter %s=%q: want a whole number from 1 to %d, e.g. 16384 (the counters take 32 bytes of kernel memory per edge and CPU, allocated at start)", k, v, maxMaxEdges)
			}
			opts.maxEdges = uint32(n)
		case ParamAttach:
			if v != AttachTCX && v != AttachPacket {
				return opts, fmt.Errorf("parameter %s=%q: want %s or %s", k, v, AttachTCX, AttachPacket)
			}
			opts.attach = v
		default:
			return opts, fmt.Errorf("parameter %q: unknown to network-graph; known: %s, %s, %s", k, ParamInterval, ParamMaxEdges, ParamAttach)
		}
	}
	return opts, nil
}
