// Package spec is the declaration of the dns gadget: its name, operations,
// output modes, parameters and output formats, everything a client needs,
// without the tracer (no eBPF). It declares the gadget into
// registry.Declared from init; the gadget itself (gadgets/dns) registers the
// same declaration with its tracer.
package spec

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/dns/types"
)

// Name is the gadget's registered name.
const Name = "dns"

// Parameters dns accepts in gadget.Config.Parameters.
const (
	// ParamInterval is how often the transactions seen are delivered as a
	// batch, as a Go duration (default 2s, at least 100ms).
	ParamInterval = "interval"
	// ParamPort is the DNS server port to watch (default 53).
	ParamPort = "port"
	// ParamTimeout is how long a query waits for its response before it
	// is reported as unanswered (default 5s, at least 100ms).
	ParamTimeout = "timeout"
	// ParamMaxPending bounds the queries waiting for a response at once
	// (default 4096); a query beyond it is counted and not reported.
	ParamMaxPending = "max-pending"
)

// Defaults and bounds of the parameters.
const (
	DefaultPort       = 53
	DefaultInterval   = 2 * time.Second
	DefaultTimeout    = 5 * time.Second
	DefaultMaxPending = 4096
	MinDuration       = 100 * time.Millisecond
	MaxMaxPending     = 1 << 20
)

// Options are the parsed parameters of a trace.
type Options struct {
	Interval   time.Duration
	Port       uint16
	Timeout    time.Duration
	MaxPending int
}

// ParseParameters validates the trace parameters; errors name the
// parameter and the fix.
func ParseParameters(params map[string]string) (Options, error) {
	opts := Options{Interval: DefaultInterval, Port: DefaultPort, Timeout: DefaultTimeout, MaxPending: DefaultMaxPending}
	for k, v := range params {
		switch k {
		case ParamInterval, ParamTimeout:
			d, err := time.ParseDuration(v)
			if err != nil || d < MinDuration {
				return opts, fmt.Errorf("parameter %s=%q: want a duration of at least %v, e.g. 2s", k, v, MinDuration)
			}
			if k == ParamInterval {
				opts.Interval = d
			} else {
				opts.Timeout = d
			}
		case ParamPort:
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				return opts, fmt.Errorf("parameter %s=%q: want a port from 1 to 65535, e.g. 5353", k, v)
			}
			opts.Port = uint16(n)
		case ParamMaxPending:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxMaxPending {
				return opts, fmt.Errorf("parameter %s=%q: want a whole number from 1 to %d, e.g. 4096", k, v, MaxMaxPending)
			}
			opts.MaxPending = n
		default:
			return opts, fmt.Errorf("parameter %q: unknown to dns; known: %s, %s, %s, %s", k, ParamInterval, ParamPort, ParamTimeout, ParamMaxPending)
		}
	}
	return opts, nil
}

// Info returns the gadget's declaration, without New.
func Info() *gadget.Info {
	return &gadget.Info{
		Name: Name,
		Description: "The dns gadget monitors the DNS queries of the specified pods over UDP and TCP and reports " +
			"each query with its response (name, type, response code, A, AAAA and CNAME answers with their TTLs, " +
			"server and latency), and the queries left unanswered.",
		Operations:   gadget.StartStop(Name),
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream, gadget.OutputModeStatus},
		TypesPackage: "github.com/gadgetkit/gadget/gadgets/dns/types",
		Example: gadget.ExampleTrace{
			Name:       "dns",
			Namespace:  "gadget",
			Node:       "albantyphoon-worker000003",
			Filter:     gadget.Filter{Namespace: "demo"},
			RunMode:    "Manual",
			OutputMode: gadget.OutputModeStream,
			Parameters: map[string]string{ParamTimeout: "5s"},
		},
		// Other gadgets of the same trace (network-graph) learn from it
		// which names the pods resolved to which addresses.
		Provides: []gadget.Capability{gadget.CapabilityDNSNames},
		Formats:  formatNames(),
		NewOutput: func(name string, w io.Writer, errw io.Writer) (gadget.Output, error) {
			return newOutput(name, w, errw)
		},
		Parameters: []gadget.Parameter{
			{Name: ParamInterval, Default: DefaultInterval.String(), Flag: true,
				Doc: "how often the transactions seen are delivered, at least " + MinDuration.String()},
			{Name: ParamPort, Default: strconv.Itoa(DefaultPort),
				Doc: "the DNS server port to watch"},
			{Name: ParamTimeout, Default: DefaultTimeout.String(), Flag: true,
				Doc: "how long a query waits for its response before it is reported as unanswered"},
			{Name: ParamMaxPending, Default: strconv.Itoa(DefaultMaxPending),
				Doc: "the queries waiting for a response at once; one beyond it is counted, not reported"},
		},
		NewBatch: func(bool) gadget.BatchBuilder { return &batch{} },
		CheckParameters: func(params map[string]string) error {
			_, err := ParseParameters(params)
			return err
		},
		Extensions: []gadget.Extension{&Samples},
	}
}

// Samples are the batches `gadget plugin test --gadget dns` checks a
// plugin with: an answered query (A answer after a CNAME) and an
// unanswered one; a warning and a query with a name to escape, unicode
// and a field dns does not define.
var Samples = plugincheck.Samples{
	Ordinary: `[{"node":"n1","namespace":"demo","pod":"web","time":"2026-01-02T15:04:05Z","status":"answered","proto":"udp",` +
		`"client":"10.0.0.5","clientPort":40000,"server":"10.0.0.10","serverPort":53,"id":4660,"name":"db.demo.svc","qtype":"A",` +
		`"rcode":"NOERROR","answers":[{"name":"db.demo.svc","type":"CNAME","ttl":30,"data":"db-0.demo.svc"},` +
		`{"name":"db-0.demo.svc","type":"A","ttl":30,"data":"10.0.0.20"}],"latencyNs":412000},` +
		`{"node":"n1","namespace":"demo","pod":"web","time":"2026-01-02T15:04:06Z","status":"unanswered","proto":"tcp",` +
		`"client":"fd00::5","clientPort":40001,"server":"fd00::10","serverPort":53,"id":4661,"name":"api.example.com","qtype":"AAAA"}]`,
	Unusual: `[{"type":"warn","node":"n1","message":"3 packets to port 53 are not DNS"},` +
		`{"node":"n1","pod":"p\u00e9 \"q\"","status":"answered","proto":"udp","client":"fe80::1%eth0","clientPort":65535,` +
		`"server":"10.0.0.10","serverPort":53,"id":1,"name":"we\\ird\"na.me","qtype":"TXT","rcode":"NXDOMAIN",` +
		plugincheck.UnknownField + `}]`,
}

func init() {
	registry.MustDeclare(Info())
}

// batch builds a batch of dns events from their JSON form. Every query is
// its own event: there are no duplicates to merge.
type batch struct{ events []types.Event }

func (b *batch) Add(event []byte) error {
	var e types.Event
	if err := json.Unmarshal(event, &e); err != nil {
		return fmt.Errorf("not a dns event: %w", err)
	}
	b.events = append(b.events, e)
	return nil
}

func (b *batch) Len() int { return len(b.events) }

// Batch returns the []types.Event added.
func (b *batch) Batch() any { return b.events }
