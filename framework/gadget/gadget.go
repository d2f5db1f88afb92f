// Package gadget defines the contract between the framework and a gadget:
// what a gadget declares about itself (Info) and what a running gadget
// instance must do (Instance). It imports nothing but the standard library
// so that the registry, the CLI, the controller and the documentation
// generator can all depend on it.
package gadget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// OutputMode is how the results of a trace reach the user.
type OutputMode string

// The output modes a gadget may declare.
const (
	// OutputModeStream delivers events continuously while the trace runs.
	OutputModeStream OutputMode = "Stream"
	// OutputModeStatus stores the (bounded) final result in the Trace status.
	OutputModeStatus OutputMode = "Status"
	// OutputModeFile writes the results to a file on the node.
	OutputModeFile OutputMode = "File"
	// OutputModeExternalResource writes the results to another resource.
	OutputModeExternalResource OutputMode = "ExternalResource"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrInvalidInfo is returned when a gadget declaration is incomplete or
	// inconsistent.
	ErrInvalidInfo = errors.New("invalid gadget declaration")
	// ErrUnknownOperation is returned for an operation the gadget does not
	// declare.
	ErrUnknownOperation = errors.New("unknown operation")
	// ErrUnsupportedOutputMode is returned for an output mode the gadget does
	// not declare.
	ErrUnsupportedOutputMode = errors.New("unsupported output mode")
	// ErrUnknownFormat is returned for an output format the gadget does not
	// offer.
	ErrUnknownFormat = errors.New("unknown output format")
)

// Handle is what an operation handler acts on: the lifecycle of one trace.
// The framework implements it; handlers only call it.
type Handle interface {
	// Start creates the gadget instance if needed and starts it. Starting a
	// started trace is a no-op.
	Start(ctx context.Context) error
	// Stop stops the instance, delivering its final events. Stopping a
	// stopped trace is a no-op.
	Stop(ctx context.Context) error
}

// Operation is one action a user can ask of a trace, for example with the
// gadget.kinvolk.io/operation annotation.
type Operation struct {
	// Name is the operation as the user types it, e.g. "start".
	Name string
	// Doc is a one-line description, e.g. "Start network-graph".
	Doc string
	// Handler carries the operation out.
	Handler func(ctx context.Context, h Handle) error
}

// StartStop returns the operations of a gadget that is started and
// stopped and does nothing else: "start" and "stop", documented as
// "Start NAME" and "Stop NAME".
func StartStop(name string) []Operation {
	return []Operation{
		{Name: "start", Doc: "Start " + name, Handler: func(ctx context.Context, h Handle) error { return h.Start(ctx) }},
		{Name: "stop", Doc: "Stop " + name, Handler: func(ctx context.Context, h Handle) error { return h.Stop(ctx) }},
	}
}

// Filter selects the pods or containers a trace watches. Empty fields match
// everything.
type Filter struct {
	Namespace     string            `json:"namespace,omitempty"`
	Podname       string            `json:"podname,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	ContainerName string            `json:"containerName,omitempty"`
}

// ExampleTrace is the example Trace custom resource shown in the gadget's
// documentation. Its fields mirror the Trace CRD.
type ExampleTrace struct {
	Name       string
	Namespace  string
	Node       string
	Filter     Filter
	RunMode    string
	OutputMode OutputMode
	Parameters map[string]string
}

// Target is one thing a running instance watches: a pod, a container or a
// process, with the network namespace it lives in.
type Target struct {
	// ID identifies the target for AddTarget/RemoveTarget. Targets sharing a
	// network namespace share nothing else; the instance decides whether to
	// attach once per namespace.
	ID string
	// Node, Namespace, Pod and Container tag the events of this target.
	Node      string
	Namespace string
	Pod       string
	Container string
	// NetnsPath is a path whose open file descriptor is the target's network
	// namespace, e.g. /proc/1234/ns/net or /var/run/netns/frontend.
	NetnsPath string
	// NetnsInode is the inode of the network namespace, to tell namespaces
	// apart. Zero when unknown.
	NetnsInode uint64
}

// Config is what the framework gives a gadget when it creates an instance.
type Config struct {
	// Node is the name of the node (or host) the instance runs on.
	Node string
	// Filter is the trace's filter, already applied to the targets the
	// instance receives; gadgets may use it for labels and the like.
	Filter Filter
	// Parameters are the trace's free-form parameters; each gadget documents
	// the ones it accepts and rejects unknown ones with a clear error.
	Parameters map[string]string
	// Logger is the instance's logger; never nil.
	Logger *slog.Logger
	// Emit receives every batch of events the instance produces, in order.
	// The batch's type is the gadget's own (network-graph: []types.Event).
	// Emit must not block for long: it runs on the instance's drain path.
	Emit func(batch any)
	// Names, when set, connects the instance with the other instances of
	// its trace: a gadget that declares CapabilityDNSNames in Provides
	// records there the names its pods resolved, one that declares it in
	// Uses looks them up. Nil when the trace has no such partner.
	Names Names
	// Metrics receives the measurements the gadget declares in
	// Info.Metrics. Nil when nobody keeps them: use NoMetrics then.
	Metrics Metrics
}

// Capability is a kind of observation one gadget's instances share with
// another gadget's instances of the same trace, through the framework:
// neither gadget imports the other.
type Capability string

// CapabilityDNSNames is "which name did this pod resolve to this address":
// Config.Names.
const CapabilityDNSNames Capability = "dns-names"

// Names is the record of the names the watched pods resolved, shared by
// the instances of one trace (framework/names implements it). It is safe
// for concurrent use.
type Names interface {
	// Observe records that the pod of target ID resolved name to addr at
	// time at, valid for ttl.
	Observe(target, name string, addr netip.Addr, ttl time.Duration, at time.Time)
	// Lookup returns the name the pod of target ID last resolved to addr,
	// and whether its TTL had run out at time at; ok is false when there
	// is none.
	Lookup(target string, addr netip.Addr, at time.Time) (name string, stale, ok bool)
}

// Instance is one running trace of a gadget.
type Instance interface {
	// Start loads what the gadget needs (e.g. eBPF programs) and begins
	// delivering batches through Config.Emit.
	Start(ctx context.Context) error
	// AddTarget starts watching a target; it may be called before or after
	// Start. Adding a target twice is a no-op.
	AddTarget(ctx context.Context, t Target) error
	// RemoveTarget stops watching a target after delivering what it saw.
	// Removing an unknown target is a no-op.
	RemoveTarget(ctx context.Context, id string) error
	// Stop delivers the final batch and releases every kernel object and
	// goroutine. No batch is emitted after Stop returns.
	Stop(ctx context.Context) error
}

// Relabeler is implemented by an Instance that can give a target it
// watches new labels without letting go of it: the same ID (the same
// network namespace) under another Pod or NetnsPath, e.g. a namespace seen
// first through the process that created it, then by its name. Without it,
// the trace removes the target and adds it again.
type Relabeler interface {
	// RelabelTarget replaces the labels of the watched target with t's ID;
	// it is a no-op for an unknown ID.
	RelabelTarget(ctx context.Context, t Target) error
}

// Output renders the batches of one trace for a terminal or a file.
type Output interface {
	// Batch is called for every batch the instance emits.
	Batch(batch any) error
	// Close is called once, after the instance has stopped, to write the
	// final result.
	Close() error
}

// Info is everything a gadget declares about itself. The registry, the CLI,
// the controller and the documentation are all driven by it.
type Info struct {
	// Name is the gadget's name, lower-case words joined by '-'.
	Name string
	// Description is the first paragraph of the gadget's documentation.
	Description string
	// Operations are the actions the gadget supports, in documentation order.
	Operations []Operation
	// OutputModes are the output modes the gadget supports.
	OutputModes []OutputMode
	// TypesPackage is the import path of the package defining the gadget's
	// event types; its documentation is shown on the gadget's page.
	TypesPackage string
	// Example is the example Trace shown in the documentation.
	Example ExampleTrace
	// New creates an instance. It must not touch the kernel: that is Start's
	// job.
	New func(cfg Config) (Instance, error)
	// Formats are the output formats offered by NewOutput, default first.
	Formats []string
	// NewOutput returns an Output writing format to w.
	NewOutput func(format string, w io.Writer, errw io.Writer) (Output, error)
	// Provides are the observations the gadget's instances record into
	// Config.Names for other gadgets, e.g. CapabilityDNSNames.
	Provides []Capability
	// KernelMemory estimates, from a trace's parameters (those New gets),
	// the most kernel memory in bytes one instance pins while it runs:
	// its eBPF maps and programs, which the kernel charges to the memory
	// cgroup of the process that creates them. The node agent adds up the
	// estimates of the traces it runs and refuses to start one that would
	// exceed its budget. It must be cheap and must not touch the kernel;
	// an estimate errs on the high side. Its errors are about the
	// parameters, like New's. Nil means the gadget pins none worth
	// counting.
	KernelMemory func(params map[string]string) (uint64, error)
	// Uses are the observations the gadget's instances look up in
	// Config.Names. The framework then runs an instance of a gadget that
	// Provides them beside this one, on the same targets, its batches
	// discarded; without such a gadget the trace runs without them.
	Uses []Capability
	// Metrics are the Prometheus metrics the gadget's instances report
	// through Config.Metrics, besides those the framework keeps for every
	// gadget (docs/metrics.md).
	Metrics []Metric
	// Parameters are the trace parameters the gadget accepts, in
	// documentation order; clients offer them as flags.
	Parameters []Parameter
	// CheckParameters, if set, validates the trace parameters the way New
	// does, so that a client refuses a bad one before it creates a trace.
	// Its error names the parameter and the fix.
	CheckParameters func(params map[string]string) error
	// NewBatch, if set, returns a BatchBuilder turning the JSON form of the
	// gadget's events (a line of a stream, an event of a recording) back
	// into a batch of its own type for NewOutput: how a client renders what
	// agents stream or what was recorded. With merge, duplicate events are
	// merged as they are added, so memory follows the unique events.
	NewBatch func(merge bool) BatchBuilder
	// Advice, if set, is the format of NewOutput that turns a recording
	// into advice (network-graph: the NetworkPolicies allowing what was
	// recorded); clients offer it as an "advise" command.
	Advice *Advice
	// Extensions are what the gadget declares to parts of the framework
	// beyond this contract, each of its own type: its plugin support
	// (framework/plugin/chain), its Kubernetes enrichment
	// (framework/kubemeta). Each part finds its own with a type switch.
	Extensions []Extension
}

// Parameter is one trace parameter a gadget accepts.
type Parameter struct {
	// Name is the key in Config.Parameters, e.g. "interval".
	Name string
	// Default is the value used when the parameter is not given, as text.
	Default string
	// Doc is a one-line description.
	Doc string
	// Flag, when true, has clients offer the parameter as its own flag,
	// --NAME, with Default as its value (rather than only through
	// --param NAME=VALUE).
	Flag bool
}

// BatchBuilder builds one batch of a gadget's events from their JSON form.
type BatchBuilder interface {
	// Add decodes one event and adds it; the error names a field of the
	// wrong type.
	Add(event []byte) error
	// Len is the number of events in the batch.
	Len() int
	// Batch returns the batch, of the gadget's own type.
	Batch() any
}

// Advice describes a gadget's advise command.
type Advice struct {
	// Format is the output format of the advice, e.g. "network-policy".
	Format string
	// Short is the command's one-line description.
	Short string
}

// Extension is a declaration of a gadget addressed to one part of the
// framework, which defines its concrete type; GadgetExtension names it for
// error messages, e.g. "plugins".
type Extension interface {
	GadgetExtension() string
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Validate checks that the declaration of a gadget that runs here is
// complete and consistent: ValidateDeclaration, and New is set. The error
// wraps ErrInvalidInfo and names the field to fix.
func (i *Info) Validate() error {
	if err := i.ValidateDeclaration(); err != nil {
		return err
	}
	if i.New == nil {
		return fmt.Errorf("gadget %q: %w: New is nil", i.Name, ErrInvalidInfo)
	}
	return nil
}

// ValidateDeclaration checks what a client needs of a gadget: everything
// Validate does but New, which only the gadget's tracer sets. The error
// wraps ErrInvalidInfo and names the field to fix.
func (i *Info) ValidateDeclaration() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("gadget %q: %w: %s", i.Name, ErrInvalidInfo, fmt.Sprintf(format, args...))
	}
	if !namePattern.MatchString(i.Name) {
		return bad("Name must be lower-case words joined by '-', e.g. network-graph")
	}
	if i.Description == "" {
		return bad("Description is empty")
	}
	if len(i.Operations) == 0 {
		return bad("Operations is empty: declare at least start")
	}
	seen := map[string]bool{}
	for _, op := range i.Operations {
		switch {
		case op.Name == "":
			return bad("an operation has no Name")
		case seen[op.Name]:
			return bad("operation %q is declared twice", op.Name)
		case op.Doc == "":
			return bad("operation %q has no Doc", op.Name)
		case op.Handler == nil:
			return bad("operation %q has no Handler", op.Name)
		}
		seen[op.Name] = true
	}
	if len(i.OutputModes) == 0 {
		return bad("OutputModes is empty")
	}
	if i.TypesPackage == "" {
		return bad("TypesPackage is empty")
	}
	params := map[string]bool{}
	for _, p := range i.Parameters {
		switch {
		case !namePattern.MatchString(p.Name):
			return bad("parameter %q: Name must be lower-case words joined by '-', e.g. max-edges", p.Name)
		case params[p.Name]:
			return bad("parameter %q is declared twice", p.Name)
		case p.Doc == "":
			return bad("parameter %q has no Doc", p.Name)
		}
		params[p.Name] = true
	}
	if i.Example.OutputMode != "" && !i.SupportsOutputMode(i.Example.OutputMode) {
		return bad("Example.OutputMode %q is not in OutputModes", i.Example.OutputMode)
	}
	if len(i.Formats) > 0 && i.NewOutput == nil {
		return bad("Formats are declared but NewOutput is nil")
	}
	if err := i.validateMetrics(); err != nil {
		return bad("Metrics: %v", err)
	}
	if i.Advice != nil && (i.NewBatch == nil || !slices.Contains(i.Formats, i.Advice.Format) || i.Advice.Short == "") {
		return bad("Advice needs NewBatch, a Format among Formats and a Short description")
	}
	return nil
}

// SplitParameters separates the framework's parameters from the gadget's:
// for each capability the gadget Uses, the parameter of that name (e.g.
// dns-names=true) turns it on. It is off by default: the provider (dns)
// runs a packet socket in every watched namespace, a cost per packet the
// user asks for. The gadget never sees those parameters; every other one,
// including a capability's name the gadget does not use, is the gadget's
// to judge. params is not changed.
func (i *Info) SplitParameters(params map[string]string) (own map[string]string, on map[Capability]bool, err error) {
	own = maps.Clone(params)
	on = map[Capability]bool{}
	for _, c := range i.Uses {
		v, ok := own[string(c)]
		if !ok {
			continue
		}
		delete(own, string(c))
		if on[c], err = strconv.ParseBool(v); err != nil {
			return nil, nil, fmt.Errorf("parameter %s=%q: use true or false", c, v)
		}
	}
	return own, on, nil
}

// Operation returns the operation called name, or an error wrapping
// ErrUnknownOperation that lists the valid ones.
func (i *Info) Operation(name string) (Operation, error) {
	names := make([]string, 0, len(i.Operations))
	for _, op := range i.Operations {
		if op.Name == name {
			return op, nil
		}
		names = append(names, op.Name)
	}
	return Operation{}, fmt.Errorf("gadget %s: %w %q: use one of %v", i.Name, ErrUnknownOperation, name, names)
}

// SupportsOutputMode reports whether the gadget declares mode.
func (i *Info) SupportsOutputMode(mode OutputMode) bool {
	for _, m := range i.OutputModes {
		if m == mode {
			return true
		}
	}
	return false
}
