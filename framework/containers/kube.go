package containers

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// Defaults of a PodSource.
const (
	// podRetryInterval is how often pods whose IP is in no network
	// namespace yet are looked up again.
	podRetryInterval = time.Second
	// podRetryMax bounds the back-off of those retries while no pod
	// changes: a pod whose IP is in no namespace of the node (a CNI that
	// keeps it elsewhere) must not make every Watch rescan the node each
	// second forever.
	podRetryMax = 30 * time.Second
	// indexMinInterval bounds how often the node's namespaces are rescanned.
	indexMinInterval = time.Second
)

// PodSource reports the running pods of one node that match a trace's
// filter, each with its network namespace. It finds a pod's namespace
// without asking the container runtime: it matches the pod's IPs
// (status.podIPs) to the addresses configured inside the node's network
// namespaces (named ones under /var/run/netns and /run/netns, and those of
// the processes in /proc, deduplicated by inode), so it needs root and the
// host's PID namespace (hostPID) to see the pods' processes.
//
// Host-network pods (spec.hostNetwork, or a pod IP equal to the host IP)
// are skipped with a log line and named in the warning WatchWithWarning
// reports (the trace's status.operationWarning): their traffic is the
// node's, and tagging it with one pod would be wrong.
//
// A PodSource is safe for concurrent use; concurrent Watches share the
// address index.
type PodSource struct {
	client kubernetes.Interface
	node   string
	log    *slog.Logger
	index  *netnsIndex
	retry  time.Duration
}

// NewPodSource returns a PodSource for the pods scheduled on node (the
// Kubernetes node name, e.g. from the NODE_NAME downward API variable),
// read through client. It lists nothing until Watch is called. The client
// needs list and watch on pods in every namespace the filters name
// (cluster-wide for an empty namespace).
func NewPodSource(client kubernetes.Interface, node string, logger *slog.Logger) *PodSource {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PodSource{
		client: client,
		node:   node,
		log:    logger,
		index:  newNetnsIndex(indexMinInterval),
		retry:  podRetryInterval,
	}
}

// Watch follows the pods of the node that match filter and calls update
// with the complete set of their targets, sorted by ID: once when the pod
// list has been read, then each time the set changes (a pod starts, gets
// its IP, goes away, or its namespace is found). A target's ID is
// NAMESPACE/POD, or NAMESPACE/POD/CONTAINER when filter.ContainerName is
// set. update is never called concurrently. Pods whose IP is in no network
// namespace yet are looked up again after 1s, then with a back-off doubling
// up to 30s (reset by any pod change), so pods whose namespace appears
// after their IP is published are found; each lookup that misses rescans
// the node's namespaces at most once a second (shared by all Watches).
//
// Watch blocks until ctx is done and then returns nil. It returns an error
// at once for a filter the API server cannot select on (bad label); errors
// talking to the API server are logged and retried, as client-go does.
func (s *PodSource) Watch(ctx context.Context, filter gadget.Filter, update func([]gadget.Target)) error {
	return s.WatchWithWarning(ctx, filter, func(targets []gadget.Target, _ string) { update(targets) })
}

// WatchWithWarning is Watch whose update also gets a warning for the
// users of the trace, "" when there is none: the running host-network
// pods the filter selects, which are not watched (their traffic is the
// node's). update is called when the targets or the warning change.
func (s *PodSource) WatchWithWarning(ctx context.Context, filter gadget.Filter, update func([]gadget.Target, string)) error {
	sel, err := labels.ValidatedSelectorFromSet(filter.Labels)
	if err != nil {
		return fmt.Errorf("spec.filter.labels: %w: use valid label keys and values", err)
	}
	nodeSel := fields.OneTermEqualSelector("spec.nodeName", s.node).String()
	pods := s.client.CoreV1().Pods(filter.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector, o.LabelSelector = nodeSel, sel.String()
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector, o.LabelSelector = nodeSel, sel.String()
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	log := s.log.With("node", s.node, "filter", filterString(filter))
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		log.Warn("list or watch pods failed; retrying", "err", err)
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	dirty := make(chan struct{}, 1)
	signal := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal() },
		UpdateFunc: func(any, any) { signal() },
		DeleteFunc: func(any) { signal() },
	})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { inf.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil // ctx ended before the first list
	}

	w := &podWatch{src: s, filter: filter, log: log, resolved: map[types.UID]resolvedPod{}, noted: map[types.UID]string{}}
	var last []gadget.Target
	var lastWarning string
	first := true
	delay := s.retry
	for {
		targets, hostNet, pending := w.targets(ctx, inf.GetStore().List())
		warning := hostNetworkWarning(hostNet)
		if first || !slices.Equal(targets, last) || warning != lastWarning {
			update(targets, warning)
			last, lastWarning, first = targets, warning, false
		}
		var retry <-chan time.Time
		var timer *time.Timer
		if pending {
			timer = time.NewTimer(delay)
			retry = timer.C
		}
		select {
		case <-ctx.Done():
		case <-dirty:
			delay = s.retry
		case <-retry:
			delay = min(2*delay, podRetryMax)
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// filterString renders a filter for log lines.
func filterString(f gadget.Filter) string {
	var parts []string
	if f.Namespace != "" {
		parts = append(parts, "namespace="+f.Namespace)
	}
	if f.Podname != "" {
		parts = append(parts, "podname="+f.Podname)
	}
	if len(f.Labels) > 0 {
		parts = append(parts, "labels="+labels.Set(f.Labels).String())
	}
	if f.ContainerName != "" {
		parts = append(parts, "containerName="+f.ContainerName)
	}
	return strings.Join(parts, ",")
}

// resolvedPod remembers the namespace found for a pod's IPs.
type resolvedPod struct {
	ips    string
	target gadget.Target
}

// podWatch is the state of one Watch; only Watch's goroutine uses it.
type podWatch struct {
	src      *PodSource
	filter   gadget.Filter
	log      *slog.Logger
	resolved map[types.UID]resolvedPod
	noted    map[types.UID]string // why a pod was last logged as skipped
}

// maxWarnedPods bounds the pods a warning names.
const maxWarnedPods = 10

// hostNetworkWarning is the trace's warning about the selected
// host-network pods (NAMESPACE/NAME, sorted), "" when there is none.
func hostNetworkWarning(pods []string) string {
	if len(pods) == 0 {
		return ""
	}
	names := strings.Join(pods[:min(len(pods), maxWarnedPods)], ", ")
	if len(pods) > maxWarnedPods {
		names += fmt.Sprintf(" and %d more", len(pods)-maxWarnedPods)
	}
	return fmt.Sprintf("%d selected pod(s) use the host network and are not watched: %s: their traffic is the node's, "+
		"which network-graph does not attribute to one pod", len(pods), names)
}

// targets maps the matching pods in objs to targets, sorted by ID, and
// lists the matching host-network pods, which it leaves out, sorted.
// pending reports that some matching pod's namespace was not found and a
// retry is due.
func (w *podWatch) targets(ctx context.Context, objs []any) (out []gadget.Target, hostNet []string, pending bool) {
	present := map[types.UID]bool{}
	for _, o := range objs {
		pod, ok := o.(*corev1.Pod)
		if !ok {
			continue
		}
		container, ok := matchPod(pod, w.filter)
		if !ok || !podRunning(pod) {
			continue
		}
		present[pod.UID] = true
		if hostNetwork(pod) {
			w.note(pod, "host network", "skipping host-network pod: its traffic is the node's")
			hostNet = append(hostNet, pod.Namespace+"/"+pod.Name)
			continue
		}
		ips := podIPs(pod)
		key := fmt.Sprint(ips)
		// A known pod keeps its namespace while that still exists: a
		// recreated sandbox with the same IP gets a new namespace.
		if r, ok := w.resolved[pod.UID]; ok && r.ips == key {
			if ino, err := w.src.index.inode(r.target.NetnsPath); err == nil && ino == r.target.NetnsInode {
				out = append(out, r.target)
				continue
			}
			delete(w.resolved, pod.UID)
		}
		e, res, err := w.src.index.lookup(ctx, ips)
		if err != nil {
			w.log.Warn("cannot index the node's network namespaces", "err", err)
		}
		switch res {
		case lookupFound:
			t := gadget.Target{
				ID:         pod.Namespace + "/" + pod.Name,
				Node:       w.src.node,
				Namespace:  pod.Namespace,
				Pod:        pod.Name,
				Container:  container,
				NetnsPath:  e.path,
				NetnsInode: e.ino,
			}
			if container != "" {
				t.ID += "/" + container
			}
			w.resolved[pod.UID] = resolvedPod{ips: key, target: t}
			delete(w.noted, pod.UID)
			w.log.Info("pod mapped to network namespace", "pod", pod.Namespace+"/"+pod.Name, "ip", key, "netns", e.path)
			out = append(out, t)
		case lookupAmbiguous:
			w.note(pod, "ambiguous", "skipping pod: its IP is configured in several network namespaces", "ip", key)
			pending = true
		default:
			w.note(pod, "missing", "pod IP not found in any network namespace of the node yet; retrying", "ip", key)
			pending = true
		}
	}
	for uid := range w.resolved {
		if !present[uid] {
			delete(w.resolved, uid)
		}
	}
	for uid := range w.noted {
		if !present[uid] {
			delete(w.noted, uid)
		}
	}
	slices.SortFunc(out, func(a, b gadget.Target) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(hostNet)
	return out, hostNet, pending
}

// note logs why pod is skipped, once per reason.
func (w *podWatch) note(pod *corev1.Pod, reason, msg string, args ...any) {
	if w.noted[pod.UID] == reason {
		return
	}
	w.noted[pod.UID] = reason
	w.log.Info(msg, append([]any{"pod", pod.Namespace + "/" + pod.Name}, args...)...)
}

// matchPod reports whether pod matches f (empty fields match everything)
// and, when f names a container, returns it: the pod must have a
// container of that name.
func matchPod(pod *corev1.Pod, f gadget.Filter) (container string, ok bool) {
	if f.Namespace != "" && pod.Namespace != f.Namespace {
		return "", false
	}
	if f.Podname != "" && pod.Name != f.Podname {
		return "", false
	}
	for k, v := range f.Labels {
		if got, ok := pod.Labels[k]; !ok || got != v {
			return "", false
		}
	}
	if f.ContainerName == "" {
		return "", true
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == f.ContainerName {
			return c.Name, true
		}
	}
	return "", false
}

// podRunning reports whether pod is running and has an IP.
func podRunning(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != ""
}

// hostNetwork reports whether pod shares the node's network namespace.
func hostNetwork(pod *corev1.Pod) bool {
	return pod.Spec.HostNetwork || (pod.Status.HostIP != "" && pod.Status.PodIP == pod.Status.HostIP)
}

// podIPs returns the pod's parsable IPs, status.podIP first.
func podIPs(pod *corev1.Pod) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	add(pod.Status.PodIP)
	for _, ip := range pod.Status.PodIPs {
		add(ip.IP)
	}
	return out
}
