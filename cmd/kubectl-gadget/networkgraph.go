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
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/recording"
	"github.com/gadgetkit/gadget/framework/streamhttp"
	"github.com/gadgetkit/gadget/gadgets/networkgraph"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
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

// ngFlags are the flags shared by the network-graph commands.
type ngFlags struct {
	traceNamespace string
	session        string
	output         string
	agentPort      int
	agentAddress   string
}

func newNetworkGraphCmd(k *kubeFlags) *cobra.Command {
	f := &ngFlags{}
	cmd := &cobra.Command{
		Use:   "network-graph",
		Short: "Record the TCP connections and UDP streams of pods, on every node",
		Long: networkgraph.Info().Description + "\n\n" +
			"start creates one Trace per node and starts it; stream follows the edges as they are seen; show prints " +
			"the graph so far; stop stops and deletes the Traces. record saves a stream to a file, and advise turns a " +
			"recording into NetworkPolicies, offline.",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.traceNamespace, "trace-namespace", "gadget", "namespace of the Trace resources (where gadgetd runs)")
	pf.StringVar(&f.session, "name", "network-graph", "name of this recording; its Traces are NAME-NODE")
	pf.StringVarP(&f.output, "output", "o", "", "output format: "+strings.Join(format.Names(), ", ")+" (default: jsonl for stream, table otherwise)")
	pf.IntVar(&f.agentPort, "agent-port", defaultAgentPort, "port of gadgetd's stream server")
	pf.StringVar(&f.agentAddress, "agent-address", "", "read the streams from the agent at HOST:PORT directly instead of through the API server's pods/proxy "+
		"(a single node whose agent you can reach, e.g. the simulated node of make e2e)")
	cmd.AddCommand(newStartCmd(k, f), newStopCmd(k, f), newStreamCmd(k, f, false), newStreamCmd(k, f, true),
		newRecordCmd(k, f), newAdviseCmd(f), newUICmd(networkgraph.Name, networkGraphUI(k, f)))
	return cmd
}

func newStartCmd(k *kubeFlags, f *ngFlags) *cobra.Command {
	var (
		namespace, podname, selector, outputMode string
		nodes                                    []string
		interval                                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Create a Trace per node and start network-graph on it",
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
			if interval < 100*time.Millisecond {
				return usagef("--interval %v: must be at least 100ms, e.g. --interval 2s", interval)
			}
			mode := v1alpha1.OutputMode(outputMode)
			if !slices.Contains([]v1alpha1.OutputMode{v1alpha1.OutputModeStream, v1alpha1.OutputModeStatus}, mode) {
				return usagef("--output-mode %q: use Stream or Status", outputMode)
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
						Gadget:     networkgraph.Name,
						Filter:     filter,
						RunMode:    v1alpha1.RunModeManual,
						OutputMode: mode,
						Parameters: map[string]string{"interval": interval.String()},
					},
				}
				if err := c.ctrl.Create(ctx, tr); err != nil {
					if apierrors.IsAlreadyExists(err) {
						return fmt.Errorf("trace %s/%s exists: network-graph %q already runs; stop it first or pick another --name", tr.Namespace, tr.Name, f.session)
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
	fl.StringVar(&outputMode, "output-mode", string(v1alpha1.OutputModeStream), "how the agents deliver the edges: Stream (stream, show) or Status (stop prints the graph)")
	fl.DurationVar(&interval, "interval", 2*time.Second, "how often the agents read the kernel's counters")
	return cmd
}

func newStopCmd(k *kubeFlags, f *ngFlags) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop network-graph on every node, print the graph of Status traces, delete the Traces",
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
			// Status traces hold the final graph.
			var events []types.Event
			for _, tr := range traces {
				if err := c.ctrl.Get(ctx, client.ObjectKeyFromObject(tr), tr); err == nil && tr.Status.Output != "" {
					evs, err := readEvents(strings.NewReader(tr.Status.Output))
					if err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "warning: trace %s: status.output: %v\n", tr.Name, err)
					}
					events = append(events, evs...)
				}
			}
			if len(events) > 0 {
				if err := render(cmd.OutOrStdout(), cmd.ErrOrStderr(), f.outputOr(format.Table), events); err != nil {
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

// newStreamCmd is stream (follow the edges) or, with snapshot, show (the
// edges the agents keep now, as one graph).
func newStreamCmd(k *kubeFlags, f *ngFlags, snapshot bool) *cobra.Command {
	use, short := "stream", "Follow the edges of every node as they are seen (Stream traces), until Ctrl-C"
	if snapshot {
		use, short = "show", "Print the graph the agents hold now (Stream traces), merged over the nodes"
	}
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			def := format.JSONL
			if snapshot {
				def = format.Table
			}
			out, err := networkgraph.Info().NewOutput(f.outputOr(def), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return usagef("--output: %v", err)
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
			streamErr := followTraces(ctx, c, f, !snapshot, cmd.ErrOrStderr(), func(events []types.Event) error {
				return out.Batch(events)
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

func newRecordCmd(k *kubeFlags, f *ngFlags) *cobra.Command {
	var file string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Save the edges of every node to a file (JSON lines) until Ctrl-C or --duration, for advise",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("--output is required: the file to write the recording to, e.g. --output graph.jsonl")
			}
			c, err := k.connect()
			if err != nil {
				return err
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
			out, _ := format.New(format.JSONL, w, cmd.ErrOrStderr())
			var n int
			streamErr := followTraces(ctx, c, f, true, cmd.ErrOrStderr(), func(events []types.Event) error {
				n += len(events)
				return out.Batch(events)
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

func newAdviseCmd(f *ngFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "advise",
		Short: "Turn a recording (JSON array or JSON lines) into NetworkPolicies or CiliumNetworkPolicies, offline",
		Long: "advise reads a recording from 'network-graph record' (JSON lines) or '-o json' (a JSON array) and prints\n" +
			"the NetworkPolicies (-o ciliumnetworkpolicy: CiliumNetworkPolicies) allowing exactly the traffic recorded.\n" +
			"The recording is streamed: memory follows the number of unique edges, not the size of the file. An event\n" +
			"that is not valid JSON or has a field of the wrong type ends it with exit status 2, naming its line and field.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("--input is required: a recording from 'network-graph record' or '-o json', e.g. --input graph.jsonl")
			}
			r, err := os.Open(file)
			if err != nil {
				return usagef("--input %s: %v", file, errors.Unwrap(err))
			}
			defer r.Close()
			if st, err := r.Stat(); err == nil && st.IsDir() {
				return usagef("--input %s: is a directory: name a recording", file)
			}
			events, err := readEvents(r)
			if err != nil {
				return usagef("--input %s: %w", file, err)
			}
			return render(cmd.OutOrStdout(), cmd.ErrOrStderr(), f.outputOr(format.NetworkPolicy), events)
		},
	}
	cmd.Flags().StringVar(&file, "input", "", "recording to read (required)")
	return cmd
}

func (f *ngFlags) outputOr(def string) string {
	if f.output == "" {
		return def
	}
	return f.output
}

// render writes the final graph of events in format name.
func render(stdout, stderr io.Writer, name string, events []types.Event) error {
	out, err := networkgraph.Info().NewOutput(name, stdout, stderr)
	if err != nil {
		return usagef("--output: %v", err)
	}
	if err := out.Batch(events); err != nil {
		return err
	}
	return out.Close()
}

// readEvents reads a JSON array of events or JSON lines of events,
// streaming, and returns the unique graph: memory follows the number of
// unique edges, not the size of the input. An event that is not valid JSON
// or has a field of the wrong type is an error naming its line and field.
func readEvents(r io.Reader) ([]types.Event, error) {
	var g types.Graph
	err := recording.Read(r, func(_ int, raw []byte) error {
		e, err := format.DecodeEvent(raw)
		if err != nil {
			return err
		}
		g.Add(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g.Events(), nil
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
func sessionTraces(ctx context.Context, c *clients, f *ngFlags) ([]*v1alpha1.Trace, error) {
	var list v1alpha1.TraceList
	if err := c.ctrl.List(ctx, &list, client.InNamespace(f.traceNamespace), client.MatchingLabels{sessionLabel: f.session}); err != nil {
		return nil, explain(fmt.Errorf("list traces: %w", err), "list traces")
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no network-graph %q runs in namespace %s: start it with 'kubectl gadget network-graph start'", f.session, f.traceNamespace)
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
// on their nodes, through the API server's pods/proxy, and passes the
// events of each line to emit, one call at a time. follow=false reads what
// the agents keep now and returns.
func followTraces(ctx context.Context, c *clients, f *ngFlags, follow bool, stderr io.Writer, emit func([]types.Event) error) error {
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
			errs[i] = followOne(ctx, c, f, tr, follow, func(e []types.Event) error {
				mu.Lock()
				defer mu.Unlock()
				return emit(e)
			})
			if errs[i] != nil && follow {
				fmt.Fprintf(stderr, "warning: node %s: %v\n", tr.Spec.Node, errs[i])
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil // Ctrl-C or --duration: a normal end
	}
	return errors.Join(errs...)
}

// followOne reads the stream of one trace.
func followOne(ctx context.Context, c *clients, f *ngFlags, tr *v1alpha1.Trace, follow bool, emit func([]types.Event) error) error {
	body, err := openStream(ctx, c, f, tr, follow)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		var e types.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("stream of trace %s: bad line %q: %w", tr.Name, sc.Text(), err)
		}
		if err := emit([]types.Event{e}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stream of trace %s: %w", tr.Name, err)
	}
	return nil
}

// openStream opens the stream of tr at the agent of its node: through the
// API server's pods/proxy, or directly with --agent-address. It sends the
// trace's status.streamToken in streamhttp.TokenHeader: the agent serves
// the stream to the holders of that token only (the API server strips
// the Authorization header before it proxies a request, so the token has
// a header of its own).
func openStream(ctx context.Context, c *clients, f *ngFlags, tr *v1alpha1.Trace, follow bool) (io.ReadCloser, error) {
	path := streamhttp.PathPrefix + tr.Namespace + "/" + tr.Name
	if f.agentAddress != "" {
		token, err := streamToken(tr)
		if err != nil {
			return nil, err
		}
		u := url.URL{Scheme: "http", Host: f.agentAddress, Path: path, RawQuery: "follow=" + strconv.FormatBool(follow)}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, usagef("--agent-address %q: %v", f.agentAddress, err)
		}
		req.Header.Set(streamhttp.TokenHeader, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("stream of trace %s from agent %s: %w", tr.Name, f.agentAddress, err)
		}
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, fmt.Errorf("stream of trace %s from agent %s: %s: %s", tr.Name, f.agentAddress, resp.Status, bytes.TrimSpace(msg))
		}
		return resp.Body, nil
	}
	pod, err := agentPod(ctx, c, f.traceNamespace, tr.Spec.Node)
	if err != nil {
		return nil, err
	}
	token, err := streamToken(tr)
	if err != nil {
		return nil, err
	}
	body, err := c.typed.CoreV1().RESTClient().Get().
		Namespace(pod.Namespace).Resource("pods").SubResource("proxy").
		Name(pod.Name+":"+strconv.Itoa(f.agentPort)).Suffix(path).
		Param("follow", strconv.FormatBool(follow)).
		SetHeader(streamhttp.TokenHeader, token).
		Stream(ctx)
	if err != nil {
		return nil, explain(fmt.Errorf("stream of trace %s from agent pod %s: %w", tr.Name, pod.Name, err), "get pods/proxy")
	}
	return body, nil
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

// networkGraphUI is the source of 'network-graph ui': the streams of the
// session's Traces, as 'stream' reads them.
func networkGraphUI(k *kubeFlags, f *ngFlags) func(cmd *cobra.Command) (uiSource, error) {
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
			gadget:   networkgraph.Name,
			source:   fmt.Sprintf("%q in namespace %s, %d node(s), through the API server", f.session, f.traceNamespace, len(traces)),
			interval: interval,
			follow: func(ctx context.Context, warn io.Writer, emit func([]any) error) error {
				return followTraces(ctx, c, f, true, warn, func(events []types.Event) error {
					batch := make([]any, len(events))
					for i := range events {
						batch[i] = events[i]
					}
					return emit(batch)
				})
			},
		}, nil
	}
}
