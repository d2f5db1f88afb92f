// Package controller is the node agent's controller-runtime reconciler for
// Trace resources. It handles only the Traces whose spec.node is its node:
// it carries out the operation asked by the gadget.kinvolk.io/operation
// annotation through framework/trace, removes the annotation, and writes
// the result through the status subresource. It follows the pods a trace
// selects through a TargetSource, keeps a finalizer so that deleting a
// Trace stops its gadget, and resumes the Started Traces when the agent
// starts again: the state lives in the API server.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/trace"
)

// Finalizer is put on every Trace of the node so that deleting it first
// stops its gadget and releases its kernel objects.
const Finalizer = v1alpha1.AgentFinalizer

// releaseTimeout bounds stopping the traces when the agent shuts down.
const releaseTimeout = 30 * time.Second

// Options configure a Reconciler.
type Options struct {
	// Node is the name of this node; only Traces whose spec.node equals it
	// are handled. Required.
	Node string
	// Registry is where spec.gadget is looked up; nil means
	// registry.Default.
	Registry *registry.Registry
	// Targets reports the pods of this node a trace watches; nil means
	// NoTargets.
	Targets TargetSource
	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
	// MaxStatusOutput bounds status.output in bytes; 0 means
	// DefaultMaxStatusOutput.
	MaxStatusOutput int
	// StreamBytes bounds the events a trace in the Stream output mode
	// keeps for its readers, in bytes of NDJSON; the oldest go first.
	// 0 means streambuf.DefaultBytes (8 MiB).
	StreamBytes int
	// Enrich, when set, is called with every batch of every trace before
	// the output mode sees it, with the name of the trace's gadget; it
	// returns the batch to deliver (e.g. the same slice, enriched in place
	// from the cluster's informer caches). It must not block.
	Enrich func(gadget string, batch any) any
	// Plugins, when set, lets a Trace's spec.parameters choose plugins
	// (an enricher chain and a formatter) for its Status output. It gets
	// the trace's gadget and parameters and returns the parameters left for
	// the gadget itself and, when the parameters choose plugins, a function
	// making the Output that renders the run's final result into w (its
	// warnings go to errw). Its errors are about spec.parameters.
	Plugins func(info *gadget.Info, params map[string]string) (rest map[string]string, newOutput PluginOutput, err error)
	// FirstTargetsTimeout bounds how long creating a trace waits for the
	// first set of targets before it runs the operation anyway; 0 means 5s.
	FirstTargetsTimeout time.Duration
	// HeartbeatInterval is how often the agent renews the AgentReady
	// condition of each of its Traces (one status write per trace and
	// interval), and checkpoints the running ones; whole seconds, 0 means
	// v1alpha1.DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// CheckpointDir, when set, is the folder (it must exist) where the
	// output so far of each running trace in the Status output mode is
	// saved at every heartbeat and when the agent stops, so that an agent
	// that restarts, after a crash too, resumes with it. Empty keeps none.
	CheckpointDir string
	// MaxCheckpoint bounds one trace's checkpoint in bytes; a larger one
	// is not written (the previous one stays, and the status says so).
	// 0 means DefaultMaxCheckpoint.
	MaxCheckpoint int
	// RequireScopePolicy makes the agent start no trace unless the API
	// server enforces the scope policy (v1alpha1.ScopePolicyName,
	// deploy/admission.yaml) and did so when the trace was created: only
	// then has someone checked that the trace's creator may list the pods
	// it selects. gadgetd sets it; the agent then needs get on that
	// ValidatingAdmissionPolicy and its binding.
	RequireScopePolicy bool
	// MaxTraces bounds the traces started on this node at once; 0 means
	// DefaultMaxTraces. Starting one more fails with an operationError
	// wrapping ErrNodeBudget.
	MaxTraces int
	// KernelMemoryBudget bounds, in bytes, the kernel memory the started
	// traces of this node pin together, as their gadgets estimate it from
	// their parameters (gadget.Info.KernelMemory); 0 means no limit.
	// Starting a trace that would exceed it fails with an operationError
	// wrapping ErrNodeBudget that names the trace's estimate.
	KernelMemoryBudget uint64
	// Metrics, when set, receives the metrics of the traces (their state,
	// targets, batches and stage latencies) and of their gadgets.
	Metrics *metrics.Set
}

// PluginOutput makes the Output of one run of a trace whose parameters
// chose plugins; ctx bounds the plugins' start.
type PluginOutput func(ctx context.Context, w, errw io.Writer) (gadget.Output, error)

// Reconciler reconciles the Traces of one node. Create it with New and
// register it with SetupWithManager; it serves one run of that manager.
// It implements Streams.
type Reconciler struct {
	client client.Client
	reader client.Reader // uncached: the scope policy
	opts   Options
	log    *slog.Logger
	budget *nodeBudget

	mu      sync.Mutex
	traces  map[types.NamespacedName]*running
	done    map[types.NamespacedName]doneOp // the last operation carried out, per trace
	closing bool                            // set by releaseAll: the agent shuts down
	// started is when this agent started, to the second: a heartbeat
	// older than that is an earlier agent's.
	started time.Time
}

// doneOp is an operation asked by annotation and carried out: the
// resourceVersion of the trace it was read from, and the status it left.
// Until the informer cache sees the annotation's removal, a reconcile may
// read that same version again; it must not run the operation twice.
type doneOp struct {
	resourceVersion string
	status          v1alpha1.TraceStatus
}

// errClosing is returned by ensure once the agent shuts down.
var errClosing = errors.New("the node agent is shutting down")

var _ Streams = (*Reconciler)(nil)

// New checks opts and returns a reconciler for opts.Node.
func New(opts Options) (*Reconciler, error) {
	if opts.Node == "" {
		return nil, errors.New("controller: Options.Node is empty: give the name of this node (e.g. --node-name or $NODE_NAME)")
	}
	if opts.Registry == nil {
		opts.Registry = registry.Default
	}
	if opts.Targets == nil {
		opts.Targets = NoTargets{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxStatusOutput <= 0 {
		opts.MaxStatusOutput = DefaultMaxStatusOutput
	}
	if opts.StreamBytes <= 0 {
		opts.StreamBytes = streambuf.DefaultBytes
	}
	if opts.MaxTraces <= 0 {
		opts.MaxTraces = DefaultMaxTraces
	}
	if opts.FirstTargetsTimeout <= 0 {
		opts.FirstTargetsTimeout = 5 * time.Second
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = v1alpha1.DefaultHeartbeatInterval
	}
	if opts.HeartbeatInterval%time.Second != 0 {
		return nil, fmt.Errorf("controller: Options.HeartbeatInterval %v: use whole seconds", opts.HeartbeatInterval)
	}
	if opts.MaxCheckpoint <= 0 {
		opts.MaxCheckpoint = DefaultMaxCheckpoint
	}
	if opts.CheckpointDir != "" {
		if fi, err := os.Stat(opts.CheckpointDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("controller: Options.CheckpointDir %s is not a folder: create it, or leave it empty to keep no checkpoints", opts.CheckpointDir)
		}
	}
	return &Reconciler{
		started: time.Now().Truncate(time.Second),
		opts:    opts,
		log:     opts.Logger.With("node", opts.Node),
		budget:  newNodeBudget(opts.Node, opts.KernelMemoryBudget, opts.MaxTraces, opts.Metrics),
		traces:  map[types.NamespacedName]*running{},
		done:    map[types.NamespacedName]doneOp{},
	}, nil
}

// SetupWithManager registers the reconciler with mgr: it watches the
// Traces of every namespace whose spec.node is this node, and stops every
// trace it runs when mgr stops, leaving their status as it is so that the
// next agent resumes them. mgr's scheme must know v1alpha1.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.client = mgr.GetClient()
	r.reader = mgr.GetAPIReader()
	onNode := predicate.NewPredicateFuncs(func(o client.Object) bool {
		t, ok := o.(*v1alpha1.Trace)
		return ok && t.Spec.Node == r.opts.Node
	})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("trace").
		For(&v1alpha1.Trace{}, builder.WithPredicates(onNode)).
		// Several agents (or test managers) may run in one process.
		WithOptions(crcontroller.Options{SkipNameValidation: ptr.To(true)}).
		Complete(r)
	if err != nil {
		return fmt.Errorf("controller: set up the Trace controller: %w", err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		stopCtx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
		defer cancel()
		r.releaseAll(stopCtx)
		r.markStopped(stopCtx)
		return nil
	})); err != nil {
		return fmt.Errorf("controller: add the shutdown hook: %w", err)
	}
	if r.opts.CheckpointDir != "" {
		started := time.Now()
		if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			r.pruneCheckpoints(ctx, mgr.GetCache(), started)
			return nil
		})); err != nil {
			return fmt.Errorf("controller: add the checkpoint pruner: %w", err)
		}
	}
	return nil
}

// pruneCheckpoints removes, once the cache holds the node's Traces, the
// checkpoints of the traces that are gone (deleted while no agent ran).
func (r *Reconciler) pruneCheckpoints(ctx context.Context, c cache.Cache, started time.Time) {
	if !c.WaitForCacheSync(ctx) {
		return
	}
	var list v1alpha1.TraceList
	if err := c.List(ctx, &list); err != nil {
		r.log.Warn("list the traces to prune checkpoints", "err", err)
		return
	}
	keep := map[types.UID]bool{}
	for _, tr := range list.Items {
		keep[tr.UID] = true
	}
	removed, err := checkpoints{dir: r.opts.CheckpointDir}.prune(keep, started)
	if err != nil {
		r.log.Warn("prune checkpoints", "err", err)
	}
	if len(removed) > 0 {
		r.log.Info("checkpoints of deleted traces removed", "files", removed)
	}
}

// CacheOptions are the manager cache options of a node agent: Traces are
// listed and watched with the field selector spec.node=node, so that the
// agent never receives the Traces of other nodes.
func CacheOptions(node string) cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&v1alpha1.Trace{}: {Field: fields.OneTermEqualSelector(v1alpha1.NodeField, node)},
	}}
}

// Reconcile brings one Trace of this node to what its annotation, run mode
// and deletion ask. It is idempotent: running it again on the same object
// changes nothing, but the heartbeat: every Trace of the node comes back
// every half heartbeat interval, to renew its AgentReady condition when
// it is due and to checkpoint it.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	res, live, err := r.reconcile(ctx, req)
	if live && err == nil && res.RequeueAfter == 0 {
		if rt := r.lookup(req.NamespacedName); rt != nil {
			rt.checkpoint()
		}
		res.RequeueAfter = r.opts.HeartbeatInterval / 2
	}
	return res, err
}

// reconcile is Reconcile; live says whether the trace is still this
// node's.
func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, live bool, _ error) {
	key := req.NamespacedName
	log := r.log.With("trace", key.String())

	var tr v1alpha1.Trace
	if err := r.client.Get(ctx, key, &tr); err != nil {
		if apierrors.IsNotFound(err) {
			r.release(ctx, key)
			return ctrl.Result{}, false, nil
		}
		return ctrl.Result{}, false, fmt.Errorf("get trace %s: %w", key, err)
	}

	if tr.Spec.Node != r.opts.Node || !tr.DeletionTimestamp.IsZero() {
		// Deleted, or moved to another node: stop it and let it go.
		r.release(ctx, key)
		if controllerutil.ContainsFinalizer(&tr, Finalizer) {
			orig := tr.DeepCopy()
			controllerutil.RemoveFinalizer(&tr, Finalizer)
			err := r.client.Patch(ctx, &tr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
			switch {
			case apierrors.IsNotFound(err):
			case apierrors.IsConflict(err):
				// Changed meanwhile: the change's own event comes back here.
				return ctrl.Result{}, false, nil
			case err != nil:
				return ctrl.Result{}, false, fmt.Errorf("remove the finalizer of trace %s: %w", key, err)
			}
			log.Info("trace released")
		}
		return ctrl.Result{}, false, nil
	}

	if !controllerutil.ContainsFinalizer(&tr, Finalizer) {
		orig := tr.DeepCopy()
		controllerutil.AddFinalizer(&tr, Finalizer)
		// The lock keeps the finalizers other controllers add meanwhile.
		err := r.client.Patch(ctx, &tr, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		switch {
		case apierrors.IsConflict(err):
			// Changed meanwhile: the change's own event comes back here.
			return ctrl.Result{}, true, nil
		case err != nil:
			return ctrl.Result{}, true, fmt.Errorf("add the finalizer to trace %s: %w", key, err)
		}
	}

	rt := r.lookup(key)
	if rt != nil && rt.uid != tr.UID {
		// Deleted and created again under the same name.
		r.release(ctx, key)
		rt = nil
	}

	op, annotated := tr.Annotations[v1alpha1.OperationAnnotation]
	if d, ok := r.doneFor(key); annotated && ok && d.resourceVersion == tr.ResourceVersion {
		// Carried out already, from this very version: the cache has not
		// seen the annotation go, or removing it failed. Finish, again.
		status := d.status
		if rt != nil {
			status = rt.status()
		}
		res, err := r.finish(ctx, &tr, op, status)
		return res, true, err
	}
	// A trace Started by an earlier agent that this one does not run yet:
	// the agent restarted. It resumes the trace before anything else, so
	// that a stop asked meanwhile ends with what was recorded before.
	resume := rt == nil && tr.Status.State == v1alpha1.TraceStateStarted
	switch {
	case resume:
		log.Info("resuming started trace")
		status, err := r.operate(ctx, log, &tr, "start", r.resumeInfo(&tr))
		if errors.Is(err, errClosing) || r.isClosing() {
			log.Info("operation not done: shutting down", "operation", "start")
			return ctrl.Result{}, true, nil
		}
		if !annotated || op == "start" {
			if annotated {
				r.remember(key, tr.ResourceVersion, status)
				res, err := r.finish(ctx, &tr, op, status)
				return res, true, err
			}
			return ctrl.Result{}, true, r.writeStatus(ctx, &tr, status)
		}
	case annotated:
	case rt != nil:
		// Nothing asked: show what runs. This also repairs a status
		// write that failed, and a status read from a stale cache.
		return ctrl.Result{}, true, r.writeStatus(ctx, &tr, rt.status())
	case tr.Status.State == "" && tr.Spec.RunMode == v1alpha1.RunModeAuto:
		op = "start"
	case tr.Status.State == "":
		// A new Manual trace: show that it does not run.
		return ctrl.Result{}, true, r.writeStatus(ctx, &tr, v1alpha1.TraceStatus{State: v1alpha1.TraceStateStopped})
	default:
		// Nothing to do but the heartbeat.
		return ctrl.Result{}, true, r.writeStatus(ctx, &tr, tr.Status)
	}

	status, err := r.operate(ctx, log, &tr, op, nil)
	if errors.Is(err, errClosing) || r.isClosing() {
		// Keep the status as it is for the next agent to resume.
		log.Info("operation not done: shutting down", "operation", op)
		return ctrl.Result{}, true, nil
	}
	if annotated {
		r.remember(key, tr.ResourceVersion, status)
		res, err := r.finish(ctx, &tr, op, status)
		return res, true, err
	}
	return ctrl.Result{}, true, r.writeStatus(ctx, &tr, status)
}

// remember records that the operation asked by the annotation of the
// trace's version resourceVersion is carried out, with status.
func (r *Reconciler) remember(key types.NamespacedName, resourceVersion string, status v1alpha1.TraceStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[key] = doneOp{resourceVersion: resourceVersion, status: status}
}

// resumeInfo is what the agent knows of the previous agent of tr.
func (r *Reconciler) resumeInfo(tr *v1alpha1.Trace) *resumeInfo {
	ri := &resumeInfo{at: time.Now()}
	if c := tr.Status.Condition(v1alpha1.ConditionAgentReady); c != nil {
		ri.lastSeen = c.LastHeartbeatTime.Time
	}
	return ri
}

// finish ends an operation asked by annotation: it removes the annotation,
// then writes the status. In that order, no version of the trace with
// both the annotation and the new status exists for a later reconcile to
// take as a new request (it tells a version already handled by doneFor).
func (r *Reconciler) finish(ctx context.Context, tr *v1alpha1.Trace, op string, status v1alpha1.TraceStatus) (ctrl.Result, error) {
	res, err := r.removeAnnotation(ctx, tr, op)
	if err != nil {
		return res, err
	}
	return res, r.writeStatus(ctx, tr, status)
}

// doneFor returns the last operation carried out on the trace of key.
func (r *Reconciler) doneFor(key types.NamespacedName) (doneOp, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.done[key]
	return d, ok
}

// operate carries out op on the trace and returns the status to write.
// Its error is errClosing when the agent shuts down; the other failures
// are in the status.
func (r *Reconciler) operate(ctx context.Context, log *slog.Logger, tr *v1alpha1.Trace, op string, resume *resumeInfo) (v1alpha1.TraceStatus, error) {
	rt, err := r.ensure(ctx, tr)
	if errors.Is(err, errClosing) {
		return v1alpha1.TraceStatus{}, err
	}
	if err == nil && !rt.started() && r.opts.RequireScopePolicy {
		// Whatever op is, it may start the trace.
		if err := checkScope(ctx, r.reader, tr); err != nil {
			log.Warn("trace not started", "operation", op, "err", err)
			rt.setError(op, err)
			return rt.status(), nil
		}
	}
	if err != nil {
		log.Warn("trace not runnable", "operation", op, "err", err)
		return v1alpha1.TraceStatus{State: v1alpha1.TraceStateStopped, OperationError: err.Error()}, nil
	}
	rt.setResume(resume)
	if err := rt.operate(ctx, op); err != nil {
		log.Warn("operation failed", "operation", op, "err", err)
	} else {
		log.Info("operation done", "operation", op, "state", rt.status().State)
	}
	return rt.status(), nil
}

// writeStatus writes status through the status subresource when it
// differs from the trace's.
func (r *Reconciler) writeStatus(ctx context.Context, tr *v1alpha1.Trace, status v1alpha1.TraceStatus) error {
	status = r.withHeartbeat(tr.Status, status, time.Now())
	if equality.Semantic.DeepEqual(tr.Status, status) {
		return nil
	}
	orig := tr.DeepCopy()
	tr.Status = status
	if err := r.client.Status().Patch(ctx, tr, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("write the status of trace %s/%s: %w", tr.Namespace, tr.Name, err)
	}
	return nil
}

// removeAnnotation removes the operation annotation if it still asks for
// op: an operation the user asked meanwhile stays for the next reconcile.
func (r *Reconciler) removeAnnotation(ctx context.Context, tr *v1alpha1.Trace, op string) (ctrl.Result, error) {
	path := "/metadata/annotations/" + jsonPointerEscape(v1alpha1.OperationAnnotation)
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": path, "value": op},
		{"op": "remove", "path": path},
	})
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("encode the annotation patch: %w", err)
	}
	err = r.client.Patch(ctx, tr, client.RawPatch(types.JSONPatchType, patch))
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsConflict(err):
		// The annotation changed or went away since it was read: the
		// change is an event of its own, whose reconcile handles it.
		r.log.Debug("operation annotation changed meanwhile", "trace", tr.Namespace+"/"+tr.Name, "err", err)
		return ctrl.Result{}, nil
	default:
		return ctrl.Result{}, fmt.Errorf("remove the operation annotation of trace %s/%s: %w", tr.Namespace, tr.Name, err)
	}
}

// jsonPointerEscape escapes s for a JSON pointer (RFC 6901).
func jsonPointerEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}

// Stream implements Streams.
func (r *Reconciler) Stream(key types.NamespacedName) (*streambuf.Ring, bool) {
	rt := r.lookup(key)
	if rt == nil {
		return nil, false
	}
	s := rt.currentStream()
	return s, s != nil
}

func (r *Reconciler) isClosing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

func (r *Reconciler) lookup(key types.NamespacedName) *running {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.traces[key]
}

// ensure returns the running trace of tr, creating it when there is none
// or when its spec changed while it was stopped. Its errors are for
// status.operationError: they name the field to fix.
func (r *Reconciler) ensure(ctx context.Context, tr *v1alpha1.Trace) (*running, error) {
	key := types.NamespacedName{Namespace: tr.Namespace, Name: tr.Name}
	if rt := r.lookup(key); rt != nil {
		if rt.generation == tr.Generation || rt.started() {
			return rt, nil
		}
		r.release(ctx, key) // the new spec applies from this operation on
	}
	if r.isClosing() {
		return nil, errClosing
	}
	rt, err := newRunning(r.opts, r.log, tr, r.budget)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	closing := r.closing
	if !closing {
		r.traces[key] = rt
	}
	r.mu.Unlock()
	if closing {
		// Keep its checkpoint: the next agent resumes from it.
		rt.close(ctx, true)
		return nil, errClosing
	}
	return rt, nil
}

// release stops the trace of key, if any, and forgets it.
func (r *Reconciler) release(ctx context.Context, key types.NamespacedName) {
	r.mu.Lock()
	rt := r.traces[key]
	delete(r.traces, key)
	delete(r.done, key)
	r.mu.Unlock()
	if rt != nil {
		rt.close(ctx, false)
	}
}

// releaseAll stops every trace, e.g. when the agent shuts down.
func (r *Reconciler) releaseAll(ctx context.Context) {
	r.mu.Lock()
	all := r.traces
	r.traces = map[types.NamespacedName]*running{}
	r.done = map[types.NamespacedName]doneOp{}
	r.closing = true
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, rt := range all {
		wg.Go(func() { rt.close(ctx, true) })
	}
	wg.Wait()
}

// state maps a trace state to the API's.
func state(s trace.State) v1alpha1.TraceState {
	if s == trace.StateStarted {
		return v1alpha1.TraceStateStarted
	}
	return v1alpha1.TraceStateStopped
}
