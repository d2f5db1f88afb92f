package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/recording"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/framework/streamhttp/wire"
)

// Labels of the Traces kubectl gadget creates.
const (
	// sessionLabel groups the per-node Traces of one start.
	sessionLabel = "gadget.kinvolk.io/session"
	// agentSelector selects the gadgetd pods (deploy/daemonset.yaml).
	agentSelector = "app.kubernetes.io/name=gadget,app.kubernetes.io/component=gadgetd"
	// defaultAgentPort is gadgetd's stream port.
	defaultAgentPort = 7070
)

// gadgetFlags are the flags shared by the commands of one gadget.
type gadgetFlags struct {
	info           *gadget.Info
	traceNamespace string
	session        string
	output         string
	agentPort      int
	agentAddress   string
}

// newGadgetCmds returns one command per gadget of reg, each with the
// subcommands its declaration allows.
func newGadgetCmds(k *kubeFlags, reg *registry.Registry) []*cobra.Command {
	var cmds []*cobra.Command
	for _, info := range reg.All() {
		cmds = append(cmds, newGadgetCmd(k, info))
	}
	return cmds
}

// newGadgetCmd returns "kubectl gadget NAME": start, stop, stream, show,
// record and ui, and advise when the gadget declares Advice.
func newGadgetCmd(k *kubeFlags, info *gadget.Info) *cobra.Command {
	f := &gadgetFlags{info: info}
	long := "start creates one Trace per node and starts it; stream follows the events as they are seen; show prints " +
		"what the agents hold so far; stop stops and deletes the Traces. record saves a stream to a file"
	if info.Advice != nil {
		long += ", and advise turns a recording into advice (" + info.Advice.Format + "), offline"
	}
	cmd := &cobra.Command{
		Use:   info.Name,
		Short: "Run the " + info.Name + " gadget on every node: start, stream, show, stop",
		Long:  info.Description + "\n\n" + long + ".",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.traceNamespace, "trace-namespace", "gadget", "namespace of the Trace resources (where gadgetd runs)")
	pf.StringVar(&f.session, "name", info.Name, "name of this recording; its Traces are NAME-NODE")
	pf.StringVarP(&f.output, "output", "o", "", "output format: "+strings.Join(info.Formats, ", ")+
		" (default: "+f.streamFormat()+" for stream, "+f.showFormat()+" otherwise)")
	pf.IntVar(&f.agentPort, "agent-port", defaultAgentPort, "port of gadgetd's stream server")
	pf.StringVar(&f.agentAddress, "agent-address", "", "read the streams from the agent at HOST:PORT directly instead of through the API server's pods/proxy "+
		"(a single node whose agent you can reach, e.g. the simulated node of make e2e)")
	cmd.AddCommand(newStartCmd(k, f), newStopCmd(k, f), newStreamCmd(k, f, false), newStreamCmd(k, f, true),
		newRecordCmd(k, f), newUICmd(info.Name, gadgetUI(k, f)))
	if info.Advice != nil {
		cmd.AddCommand(newAdviseCmd(f))
	}
	return cmd
}

// streamFormat is the default output format of stream: JSON lines when
// the gadget offers them.
func (f *gadgetFlags) streamFormat() string {
	if slices.Contains(f.info.Formats, formatJSONL) {
		return formatJSONL
	}
	return f.showFormat()
}

// showFormat is the default output format of show and stop: the gadget's
// default format.
func (f *gadgetFlags) showFormat() string {
	if len(f.info.Formats) > 0 {
		return f.info.Formats[0]
	}
	return ""
}

// formatJSONL is the output format of record: one event per line.
const formatJSONL = "jsonl"

func newStartCmd(k *kubeFlags, f *gadgetFlags) *cobra.Command {
	var (
		namespace, podname, selector, outputMode string
		nodes, params                            []string
	)
	flagParams := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Create a Trace per node and start " + f.info.Name + " on it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter := &v1alpha1.TraceFilter{Namespace: namespace, Podname: podname}
			if selector != "" {
				set, err := labels.ConvertSelectorToLabelsMap(selector)
				if err != nil {
					return usagef("--selector %q: %v: use key=value[,key=value]", selector, err)
				}
				filter.Labels = set
			}
			parameters, err := traceParameters(f.info, flagParams, params)
			if err != nil {
				return err
			}
			mode := v1alpha1.OutputMode(outputMode)
			if !slices.Contains([]v1alpha1.OutputMode{v1alpha1.OutputModeStream, v1alpha1.OutputModeStatus}, mode) ||
				!f.info.SupportsOutputMode(gadget.OutputMode(mode)) {
				return usagef("--output-mode %q: use one of %v", outputMode, f.info.OutputModes)
			}
			if errs := validation.IsDNS1123Label(f.session); len(errs) > 0 {
				return usagef("--name %q: %s", f.session, strings.Join(errs, "; "))
			}
			c, err := k.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(nodes) == 0 {
				var list corev1.NodeList
				if err := c.ctrl.List(ctx, &list); err != nil {
					return explain(fmt.Errorf("list nodes: %w", err), "list nodes")
				}
				for _, n := range list.Items {
					nodes = append(nodes, n.Name)
				}
				if len(nodes) == 0 {
					return errors.New("the cluster has no nodes")
				}
			}
			var created []*v1alpha1.Trace
			for _, node := range nodes {
				tr := &v1alpha1.Trace{
					ObjectMeta: metav1.ObjectMeta{
						Name:        traceName(f.session, node),
						Namespace:   f.traceNamespace,
						Labels:      map[string]string{sessionLabel: f.session},
						Annotations: map[string]string{v1alpha1.OperationAnnotation: "start"},
					},
					Spec: v1alpha1.TraceSpec{
						Node:       node,
						Gadget:     f.info.Name,
						Filter:     filter,
						RunMode:    v1alpha1.RunModeManual,
						OutputMode: mode,
						Parameters: parameters,
					},
				}
				if err := c.ctrl.Create(ctx, tr); err != nil {
					if apierrors.IsAlreadyExists(err) {
						return fmt.Errorf("trace %s/%s exists: %s %q already runs; stop it first or pick another --name", tr.Namespace, tr.Name, f.info.Name, f.session)
					}
					return explain(fmt.Errorf("create trace for node %s: %w", node, err), "create traces")
				}
				created = append(created, tr)
			}
			states, err := waitState(ctx, c, created, v1alpha1.TraceStateStarted, k.timeout)
			for _, s := range states {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&namespace, "namespace", "n", "", "watch the pods of this namespace (default: every namespace)")
	fl.StringVar(&podname, "podname", "", "watch only the pod with this name")
	fl.StringVarP(&selector, "selector", "l", "", "watch only the pods with these labels, e.g. -l app=web,tier=front")
	fl.StringSliceVar(&nodes, "node", nil, "trace on this node (repeatable; default: every node)")
	fl.StringVar(&outputMode, "output-mode", string(v1alpha1.OutputModeStream), "how the agents deliver the events: Stream (stream, show) or Status (stop prints the result)")
	for _, p := range f.info.Parameters {
		if p.Flag {
			flagParams[p.Name] = fl.String(p.Name, p.Default, p.Doc)
		}
	}
	fl.StringArrayVar(&params, "param", nil, fmt.Sprintf("set the gadget parameter `KEY=VALUE` (see docs/gadgets/%s.md); repeatable", f.info.Name))
	return cmd
}

// traceParameters returns the Trace's parameters: the value of every
// parameter flag, and the --param KEY=VALUE flags, checked the way the
// gadget will check them. Its errors are usage errors naming the flag.
func traceParameters(info *gadget.Info, flags map[string]*string, params []string) (map[string]string, error) {
	out := map[string]string{}
	for name, v := range flags {
		out[name] = *v
	}
	set := map[string]bool{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("--param %q: want KEY=VALUE, e.g. --param %s", p, exampleParam(info))
		}
		if set[k] {
			return nil, usagef("--param %s: given twice", k)
		}
		if _, isFlag := flags[k]; isFlag {
			return nil, usagef("--param %s: set it with --%s", k, k)
		}
		set[k] = true
		out[k] = v
	}
	own, _, err := info.SplitParameters(out)
	if err != nil {
		return nil, usagef("--param: %v", err)
	}
	if info.CheckParameters != nil {
		if err := info.CheckParameters(own); err != nil {
			for name := range flags {
				if strings.Contains(err.Error(), "parameter "+name+"=") {
					return nil, usagef("--%s %q: %v", name, out[name], err)
				}
			}
			return nil, usagef("--param: %v", err)
		}
	}
	return out, nil
}

// exampleParam is a KEY=VALUE of info's first declared parameter.
func exampleParam(info *gadget.Info) string {
	if len(info.Parameters) > 0 {
		return info.Parameters[0].Name + "=" + info.Parameters[0].Default
	}
	return "key=value"
}

func newStopCmd(k *kubeFlags, f *gadgetFlags) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop " + f.info.Name + " on every node, print the result of Status traces, delete the Traces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			traces, err := sessionTraces(ctx, c, f)
			if err != nil {
				return err
			}
			patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"stop"}}}`, v1alpha1.OperationAnnotation))
			for _, tr := range traces {
				if err := c.ctrl.Patch(ctx, tr, client.RawPatch("application/merge-patch+json", patch)); err != nil {
					return explain(fmt.Errorf("annotate trace %s/%s: %w", tr.Namespace, tr.Name, err), "patch traces")
				}
			}
			states, waitErr := waitState(ctx, c, traces, v1alpha1.TraceStateStopped, k.timeout)
			for _, s := range states {
				fmt.Fprintln(cmd.ErrOrStderr(), s)
			}
			// Status traces hold the final result.
			b, err := f.newBatch(true)
			if err != nil {
				return err
			}
			for _, tr := range traces {
				if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(tr), tr); err == nil && tr.Status.Output != "" {
					if err := readEvents(strings.NewReader(tr.Status.Output), b); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: trace %s: status.output: %v\n", tr.Name, err)
					}
				}
			}
			if b.Len() > 0 {
				if err := render(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, f.outputOr(f.showFormat()), b.Batch()); err != nil {
					return err
				}
			}
			if !keep {
				for _, tr := range traces {
					if err := client.IgnoreNotFound(c.ctrl.Delete(ctx, tr)); err != nil {
						return explain(fmt.Errorf("delete trace %s/%s: %w", tr.Namespace, tr.Name, err), "delete traces")
					}
				}
				if err := releaseOrphans(ctx, c, traces, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			return waitErr
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the stopped Traces instead of deleting them")
	return cmd
}

// newStreamCmd is stream (follow the events) or, with snapshot, show (the
// events the agents keep now, as one result).
func newStreamCmd(k *kubeFlags, f *gadgetFlags, snapshot bool) *cobra.Command {
	use, short := "stream", "Follow the events of every node as they are seen (Stream traces), until Ctrl-C"
	if snapshot {
		use, short = "show", "Print what the agents hold now (Stream traces), merged over the nodes"
	}
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def := f.streamFormat()
			if snapshot {
				def = f.showFormat()
			}
			out, err := f.newOutput(f.outputOr(def), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			c, err := k.connect()
			if err != nil {
				return err
			}
			streamErr := followTraces(ctx, c, f, !snapshot, cmd.ErrOrStderr(), func(batch any, _ int) error {
				return out.Batch(batch)
			})
			if err := out.Close(); err != nil {
				return err
			}
			return streamErr
		},
	}
	if !snapshot {
		cmd.Flags().DurationVar(&duration, "duration", 0, "stop following after this long (default: until Ctrl-C)")
	}
	return cmd
}

func newRecordCmd(k *kubeFlags, f *gadgetFlags) *cobra.Command {
	var file string
	var duration time.Duration
	short := "Save the events of every node to a file (JSON lines) until Ctrl-C or --duration"
	if f.info.Advice != nil {
		short += ", for advise"
	}
	cmd := &cobra.Command{
		Use:   "record",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("--output is required: the file to write the recording to, e.g. --output %s.jsonl", f.info.Name)
			}
			c, err := k.connect()
			if err != nil {
				return err
			}
			if !slices.Contains(f.info.Formats, formatJSONL) {
				return fmt.Errorf("gadget %s has no %s output format to record in", f.info.Name, formatJSONL)
			}
			w, err := os.Create(file)
			if err != nil {
				return fmt.Errorf("--output: %w", err)
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			out, err := f.newOutput(formatJSONL, w, cmd.ErrOrStderr())
			if err != nil {
				w.Close()
				return err
			}
			var n int
			streamErr := followTraces(ctx, c, f, true, cmd.ErrOrStderr(), func(batch any, events int) error {
				n += events
				return out.Batch(batch)
			})
			if err := errors.Join(out.Close(), w.Close()); err != nil {
				return fmt.Errorf("--output %s: %w", file, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "recorded %d events into %s\n", n, file)
			return streamErr
		},
	}
	// --output names the file here; it shadows the format flag of the
	// other commands (a recording is always JSON lines).
	cmd.Flags().StringVarP(&file, "output", "o", "", "file to write the recording to, as JSON lines (required)")
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop recording after this long (default: until Ctrl-C)")
	return cmd
}

func newAdviseCmd(f *gadgetFlags) *cobra.Command {
	var file string
	name := f.info.Name
	cmd := &cobra.Command{
		Use:   "advise",
		Short: f.info.Advice.Short,
		Long: "advise reads a recording from '" + name + " record' (JSON lines) or '-o json' (a JSON array) and prints\n" +
			"the advice of " + name + " (format " + f.info.Advice.Format + ") on what was recorded. The recording is streamed:\n" +
			"memory follows the number of unique events, not the size of the file. An event that is not valid JSON or\n" +
			"has a field of the wrong type ends it with exit status 2, naming its line and field.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("--input is required: a recording from '%s record' or '-o json', e.g. --input %s.jsonl", name, name)
			}
			r, err := os.Open(file)
			if err != nil {
				return usagef("--input %s: %v", file, errors.Unwrap(err))
			}
			defer r.Close()
			if st, err := r.Stat(); err == nil && st.IsDir() {
				return usagef("--input %s: is a directory: name a recording", file)
			}
			b, err := f.newBatch(true)
			if err != nil {
				return err
			}
			if err := readEvents(r, b); err != nil {
				return usagef("--input %s: %w", file, err)
			}
			return render(cmd.OutOrStdout(), cmd.ErrOrStderr(), f, f.outputOr(f.info.Advice.Format), b.Batch())
		},
	}
	cmd.Flags().StringVar(&file, "input", "", "recording to read (required)")
	return cmd
}

func (f *gadgetFlags) outputOr(def string) string {
	if f.output == "" {
		return def
	}
	return f.output
}

// newOutput returns the gadget's output called name; its error is a usage
// error naming --output.
func (f *gadgetFlags) newOutput(name string, stdout, stderr io.Writer) (gadget.Output, error) {
	if f.info.NewOutput == nil {
		return nil, fmt.Errorf("gadget %s declares no output formats", f.info.Name)
	}
	out, err := f.info.NewOutput(name, stdout, stderr)
	if err != nil {
		return nil, usagef("--output: %v", err)
	}
	return out, nil
}

// newBatch returns a builder of the gadget's batches.
func (f *gadgetFlags) newBatch(merge bool) (gadget.BatchBuilder, error) {
	if f.info.NewBatch == nil {
		return nil, fmt.Errorf("gadget %s declares no way to read its events back (NewBatch)", f.info.Name)
	}
	return f.info.NewBatch(merge), nil
}

// render writes batch, the final result, in format name.
func render(stdout, stderr io.Writer, f *gadgetFlags, name string, batch any) error {
	out, err := f.newOutput(name, stdout, stderr)
	if err != nil {
		return err
	}
	if err := out.Batch(batch); err != nil {
		return err
	}
	return out.Close()
}

// readEvents reads a JSON array of events or JSON lines of events,
// streaming, into b: with a merging b, memory follows the number of
// unique events, not the size of the input. An event that is not valid
// JSON or has a field of the wrong type is an error naming its line and
// field.
func readEvents(r io.Reader, b gadget.BatchBuilder) error {
	return recording.Read(r, func(_ int, raw []byte) error {
		return b.Add(raw)
	})
}

// traceName is the name of the session's Trace on node.
func traceName(session, node string) string {
	name := session + "-" + node
	if len(name) > validation.DNS1123SubdomainMaxLength {
		name = name[:validation.DNS1123SubdomainMaxLength]
	}
	return strings.TrimRight(name, "-.")
}

// sessionTraces lists the Traces of the session.
func sessionTraces(ctx context.Context, c *clients, f *gadgetFlags) ([]*v1alpha1.Trace, error) {
	var list v1alpha1.TraceList
	if err := c.ctrl.List(ctx, &list, client.InNamespace(f.traceNamespace), client.MatchingLabels{sessionLabel: f.session}); err != nil {
		return nil, explain(fmt.Errorf("list traces: %w", err), "list traces")
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no %s %q runs in namespace %s: start it with 'kubectl gadget %s start'", f.info.Name, f.session, f.traceNamespace, f.info.Name)
	}
	out := make([]*v1alpha1.Trace, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// waitState waits until every trace is in state want or reports an
// operation error, and returns one line per trace. Traces that do not get
// there within timeout are named in the error: their node's agent did not
// answer.
func waitState(ctx context.Context, c *clients, traces []*v1alpha1.Trace, want v1alpha1.TraceState, timeout time.Duration) ([]string, error) {
	done := map[string]string{}
	var failed []string
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, tr := range traces {
			if _, ok := done[tr.Name]; ok {
				continue
			}
			var cur v1alpha1.Trace
			if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(tr), &cur); err != nil {
				continue
			}
			_, pending := cur.Annotations[v1alpha1.OperationAnnotation]
			switch {
			case pending:
			case cur.Status.OperationError != "":
				done[tr.Name] = fmt.Sprintf("node %s: error: %s", cur.Spec.Node, cur.Status.OperationError)
				failed = append(failed, cur.Spec.Node)
			case cur.Status.State == want:
				line := fmt.Sprintf("node %s: %s", cur.Spec.Node, strings.ToLower(string(want)))
				if cur.Status.OperationWarning != "" {
					line += " (warning: " + cur.Status.OperationWarning + ")"
				}
				done[tr.Name] = line
			}
		}
		return len(done) == len(traces), nil
	})
	var lines []string
	var silent []string
	for _, tr := range traces {
		if l, ok := done[tr.Name]; ok {
			lines = append(lines, l)
		} else {
			silent = append(silent, tr.Spec.Node)
			lines = append(lines, fmt.Sprintf("node %s: no answer: %s", tr.Spec.Node, agentState(ctx, c, tr)))
		}
	}
	var errs []error
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("the operation failed on node(s) %s", strings.Join(failed, ", ")))
	}
	if len(silent) > 0 {
		errs = append(errs, fmt.Errorf("no answer within %v from the agent on node(s) %s: is gadgetd running there? (kubectl -n gadget get pods -o wide)",
			timeout, strings.Join(silent, ", ")))
	}
	return lines, errors.Join(errs...)
}

// followTraces reads the streams of the session's Traces from the agents
// on their nodes, through the API server's pods/proxy, and passes each
// line to emit, one call at a time, as a batch of the gadget's own type
// holding n events. follow=false reads what the agents keep now and
// returns.
func followTraces(ctx context.Context, c *clients, f *gadgetFlags, follow bool, stderr io.Writer, emit func(batch any, n int) error) error {
	if _, err := f.newBatch(false); err != nil {
		return err
	}
	return followLines(ctx, c, f, follow, stderr, func(tr *v1alpha1.Trace, line []byte) error {
		b, _ := f.newBatch(false)
		if err := b.Add(line); err != nil {
			return fmt.Errorf("stream of trace %s: bad line %q: %w", tr.Name, line, err)
		}
		return emit(b.Batch(), b.Len())
	})
}

// followLines reads the streams of the session's Traces and passes every
// line, one event, to emit, one call at a time. The line is reused after
// emit returns.
func followLines(ctx context.Context, c *clients, f *gadgetFlags, follow bool, stderr io.Writer, emit func(tr *v1alpha1.Trace, line []byte) error) error {
	traces, err := sessionTraces(ctx, c, f)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	errs := make([]error, len(traces))
	var wg sync.WaitGroup
	for i, tr := range traces {
		if tr.Spec.OutputMode != v1alpha1.OutputModeStream {
			errs[i] = fmt.Errorf("trace %s has outputMode %s: only Stream traces can be streamed; 'stop' prints Status traces", tr.Name, tr.Spec.OutputMode)
			continue
		}
		wg.Go(func() {
			warn := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(stderr, "warning: node %s: %s\n", tr.Spec.Node, fmt.Sprintf(format, args...))
			}
			errs[i] = followOne(ctx, c, f, tr, follow, warn, func(line []byte) error {
				mu.Lock()
				defer mu.Unlock()
				return emit(tr, line)
			})
			if errs[i] != nil && follow {
				warn("%v", errs[i])
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil // Ctrl-C or --duration: a normal end
	}
	return errors.Join(errs...)
}

// followOne reads the stream of one trace. Following, it outlives the
// agent: when the stream ends while the trace still runs (the agent was
// restarted, or the trace was stopped and started again), it waits for
// the trace's next run and follows that one, saying so with warn.
func followOne(ctx context.Context, c *clients, f *gadgetFlags, tr *v1alpha1.Trace, follow bool, warn func(string, ...any), emit func(line []byte) error) error {
	for {
		agent, err := readStream(ctx, c, f, tr, follow, emit)
		if !follow || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, errEmit) {
			return err
		}
		next, err := nextRun(ctx, c, f, tr, agent, err, warn)
		if next == nil || err != nil {
			return err
		}
		tr = next
	}
}

// errEmit marks an error of the output, which ends the stream for good.
var errEmit = errors.New("output")

// runPoll is how often a follower looks for the next run of a trace whose
// stream ended; runSettle is how long the same run on the same agent may
// stay after its stream broke before the follower gives up on it.
const (
	runPoll   = time.Second
	runSettle = 5 * time.Second
)

// nextRun waits, after the stream of tr's run ended (with cause, nil for
// a clean end), for what comes next: the trace's next run (a new stream
// token, as a restarted agent or a restarted trace writes), returned; the
// trace stopped or deleted, nil; or, when the same run still shows on the
// same live agent (agent is its pod's agentID, "" with --agent-address) for
// runSettle, an error: the connection broke, and reading the run again
// would repeat its events.
func nextRun(ctx context.Context, c *clients, f *gadgetFlags, tr *v1alpha1.Trace, agent types.UID, cause error, warn func(string, ...any)) (*v1alpha1.Trace, error) {
	why := "the stream ended"
	if cause != nil {
		why = fmt.Sprintf("the stream ended: %v", cause)
	}
	since := time.Now()
	tick := time.NewTicker(runPoll)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return nil, nil
			case <-tick.C:
			}
		}
		var cur v1alpha1.Trace
		err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(tr), &cur)
		switch {
		case apierrors.IsNotFound(err):
			warn("trace %s was deleted", tr.Name)
			return nil, nil
		case err != nil:
			continue // the API server may be restarting too
		}
		if cur.Status.StreamToken != "" && cur.Status.StreamToken != tr.Status.StreamToken {
			msg := fmt.Sprintf("trace %s: following its new run; events between the two runs are missing", cur.Name)
			if cur.Status.OperationWarning != "" {
				msg += " (the agent says: " + cur.Status.OperationWarning + ")"
			}
			warn("%s", msg)
			return &cur, nil
		}
		if cur.Status.State == v1alpha1.TraceStateStopped && cur.Annotations[v1alpha1.OperationAnnotation] == "" {
			warn("trace %s was stopped", cur.Name)
			return nil, nil
		}
		if first {
			warn("trace %s: %s; waiting for the trace's next run (the agent restarting, or the trace started again)", tr.Name, why)
		}
		if time.Since(since) < runSettle {
			continue
		}
		if f.agentAddress != "" {
			return nil, fmt.Errorf("stream of trace %s from agent %s ended while the run goes on (%s): run the command again", tr.Name, f.agentAddress, why)
		}
		if pod, err := agentPod(ctx, c, f.traceNamespace, tr.Spec.Node); err == nil && agentID(pod) == agent && podReady(pod) {
			return nil, fmt.Errorf("stream of trace %s ended while the run goes on at the same agent %s (%s): "+
				"run the command again (it reads the run from the start of the agent's buffer)", tr.Name, pod.Name, why)
		}
	}
}

// podReady reports whether p's Ready condition is true.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readStream reads the stream of tr's current run until it ends, and
// returns the UID of the agent pod that served it ("" with
// --agent-address or when none could be opened).
func readStream(ctx context.Context, c *clients, f *gadgetFlags, tr *v1alpha1.Trace, follow bool, emit func(line []byte) error) (types.UID, error) {
	body, agent, err := openStream(ctx, c, f, tr, follow)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil
		}
		return "", err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		if err := emit(sc.Bytes()); err != nil {
			return agent, fmt.Errorf("%w: %w", errEmit, err)
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return agent, fmt.Errorf("stream of trace %s: %w", tr.Name, err)
	}
	return agent, nil
}

// openStream opens the stream of tr at the agent of its node: through the
// API server's pods/proxy, or directly with --agent-address. It sends the
// trace's status.streamToken in wire.TokenHeader: the agent serves
// the stream to the holders of that token only (the API server strips
// the Authorization header before it proxies a request, so the token has
// a header of its own).
func openStream(ctx context.Context, c *clients, f *gadgetFlags, tr *v1alpha1.Trace, follow bool) (io.ReadCloser, types.UID, error) {
	path := wire.PathPrefix + tr.Namespace + "/" + tr.Name
	if f.agentAddress != "" {
		token, err := streamToken(tr)
		if err != nil {
			return nil, "", err
		}
		u := url.URL{Scheme: "http", Host: f.agentAddress, Path: path, RawQuery: "follow=" + strconv.FormatBool(follow)}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, "", usagef("--agent-address %q: %v", f.agentAddress, err)
		}
		req.Header.Set(wire.TokenHeader, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, "", fmt.Errorf("stream of trace %s from agent %s: %w", tr.Name, f.agentAddress, err)
		}
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, "", fmt.Errorf("stream of trace %s from agent %s: %s: %s", tr.Name, f.agentAddress, resp.Status, bytes.TrimSpace(msg))
		}
		return resp.Body, "", nil
	}
	pod, err := agentPod(ctx, c, f.traceNamespace, tr.Spec.Node)
	if err != nil {
		return nil, "", err
	}
	token, err := streamToken(tr)
	if err != nil {
		return nil, "", err
	}
	body, err := c.typed.CoreV1().RESTClient().Get().
		Namespace(pod.Namespace).Resource("pods").SubResource("proxy").
		Name(pod.Name+":"+strconv.Itoa(f.agentPort)).Suffix(path).
		Param("follow", strconv.FormatBool(follow)).
		SetHeader(wire.TokenHeader, token).
		Stream(ctx)
	if err != nil {
		return nil, "", explain(fmt.Errorf("stream of trace %s from agent pod %s: %w", tr.Name, pod.Name, err), "get pods/proxy")
	}
	return body, agentID(pod), nil
}

// agentID names one run of the agent's process: its pod's UID and how
// often the pod's containers restarted. A container restarted by the
// kubelet (the agent killed, or out of memory) is the same pod, but a new
// agent whose streams are new runs.
func agentID(p *corev1.Pod) types.UID {
	restarts := int32(0)
	for _, cs := range p.Status.ContainerStatuses {
		restarts += cs.RestartCount
	}
	return types.UID(fmt.Sprintf("%s/%d", p.UID, restarts))
}

// streamToken returns the token of tr's current run, from its status.
func streamToken(tr *v1alpha1.Trace) (string, error) {
	if tr.Status.StreamToken == "" {
		return "", fmt.Errorf("trace %s/%s has no status.streamToken: the trace has not started in the Stream output mode yet "+
			"(state %q), or the agent on node %s is older than this kubectl gadget (update it with 'kubectl gadget deploy')",
			tr.Namespace, tr.Name, tr.Status.State, tr.Spec.Node)
	}
	return tr.Status.StreamToken, nil
}

// agentPod returns the running gadgetd pod on node.
func agentPod(ctx context.Context, c *clients, namespace, node string) (*corev1.Pod, error) {
	sel, _ := labels.Parse(agentSelector)
	var pods corev1.PodList
	if err := c.ctrl.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, explain(fmt.Errorf("find the agent on node %s: %w", node, err), "list pods")
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName == node && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no running gadget agent on node %s (pods %s in namespace %s): deploy it with 'kubectl gadget deploy' and check 'kubectl -n %s get pods -o wide'",
		node, agentSelector, namespace, namespace)
}

// explain turns API errors into advice: the CRD is missing, or RBAC
// forbids what was tried.
func explain(err error, action string) error {
	switch {
	case isNoTraceCRD(err):
		return fmt.Errorf("%w\nthe Trace CRD is not installed in this cluster: run 'kubectl gadget deploy'", err)
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+v1alpha1.ScopePolicyName+"'"):
		// The scope policy's message names the field and the right.
		return fmt.Errorf("%w\na Trace may watch only pods you may list: pass --namespace/-n NAMESPACE "+
			"(check with 'kubectl auth can-i list pods -n NAMESPACE')", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w\nRBAC forbids you to %s: ask a cluster admin for that permission (see 'kubectl auth can-i')", err, action)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w\nthe API server does not accept your credentials: check --kubeconfig, --context or --token", err)
	}
	return err
}

// isNoTraceCRD reports whether err says the API server does not know the
// Trace kind.
func isNoTraceCRD(err error) bool {
	if meta.IsNoMatchError(err) {
		return true
	}
	return apierrors.IsNotFound(err) && strings.Contains(err.Error(), "the server could not find the requested resource")
}

// gadgetUI is the source of 'NAME ui': the streams of the session's
// Traces, as 'stream' reads them, each event as the agent sent it.
func gadgetUI(k *kubeFlags, f *gadgetFlags) func(cmd *cobra.Command) (uiSource, error) {
	return func(cmd *cobra.Command) (uiSource, error) {
		c, err := k.connect()
		if err != nil {
			return uiSource{}, err
		}
		traces, err := sessionTraces(cmd.Context(), c, f)
		if err != nil {
			return uiSource{}, err
		}
		var interval time.Duration
		if d, err := time.ParseDuration(traces[0].Spec.Parameters["interval"]); err == nil {
			interval = d
		}
		return uiSource{
			gadget:   f.info.Name,
			source:   fmt.Sprintf("%q in namespace %s, %d node(s), through the API server", f.session, f.traceNamespace, len(traces)),
			interval: interval,
			follow: func(ctx context.Context, warn io.Writer, emit func([]any) error) error {
				return followLines(ctx, c, f, true, warn, func(tr *v1alpha1.Trace, line []byte) error {
					if !json.Valid(line) {
						return fmt.Errorf("stream of trace %s: bad line %q: not JSON", tr.Name, line)
					}
					return emit([]any{json.RawMessage(bytes.Clone(line))})
				})
			},
		}, nil
	}
}
