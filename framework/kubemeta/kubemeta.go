// Package kubemeta answers "whose is this IP address?" in a Kubernetes
// cluster, and "what owns this pod?", from informer caches: a pod's IP, a
// Service's ClusterIP, external IP or load balancer IP, a node's address.
// Enrichers use it to name both ends of what a gadget saw without one API
// call per event, and stay correct while pods and services come and go.
//
// The caches keep only what the lookups need (names, labels, addresses,
// owners), so an Index costs a few hundred bytes per pod.
package kubemeta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// Pod is what the Index knows of a pod.
type Pod struct {
	Namespace string
	Name      string
	Labels    map[string]string
	// IPs are the pod's addresses (status.podIPs).
	IPs []string
	// HostIP is the address of the pod's node (status.hostIP).
	HostIP string
	// HostNetwork is true for pods sharing the node's network namespace.
	HostNetwork bool
	// Node is the node the pod is scheduled on.
	Node string
	// Owner is the top controller, "Kind/name" (e.g. "Deployment/api",
	// not its ReplicaSet), or empty for a bare pod.
	Owner string
}

// Service is what the Index knows of a Service.
type Service struct {
	Namespace string
	Name      string
	// Selector is the Service's pod selector; empty for a Service without
	// one.
	Selector map[string]string
}

// Node is what the Index knows of a node.
type Node struct {
	Name string
}

// Index maps addresses to the pods, Services and nodes that have them. Its
// lookups read the informer caches and are safe for concurrent use.
type Index struct {
	factory  informers.SharedInformerFactory
	pods     cache.SharedIndexInformer
	services cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer
	replicas cache.SharedIndexInformer
	jobs     cache.SharedIndexInformer
	log      *slog.Logger
}

// The cache indexes by address.
const byIP = "ip"

// ErrNotSynced is returned by Start when the caches did not fill before
// its context ended.
var ErrNotSynced = errors.New("kubernetes caches not synced")

// New returns an Index reading the cluster through client. It lists
// nothing until Start. The client needs list and watch on pods, services,
// nodes, replicasets and jobs, cluster-wide.
func New(client kubernetes.Interface, logger *slog.Logger) (*Index, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
		informers.WithTransform(trim))
	idx := &Index{
		factory:  f,
		pods:     f.Core().V1().Pods().Informer(),
		services: f.Core().V1().Services().Informer(),
		nodes:    f.Core().V1().Nodes().Informer(),
		replicas: f.Apps().V1().ReplicaSets().Informer(),
		jobs:     f.Batch().V1().Jobs().Informer(),
		log:      logger,
	}
	for name, inf := range map[string]cache.SharedIndexInformer{"pods": idx.pods, "services": idx.services, "nodes": idx.nodes} {
		if err := inf.AddIndexers(cache.Indexers{byIP: ipIndexer}); err != nil {
			return nil, fmt.Errorf("kubernetes index of %s: %w", name, err)
		}
	}
	return idx, nil
}

// Start starts the informers and waits until their caches are filled or
// ctx ends (then it fails with an error wrapping ErrNotSynced). The
// informers run until stop is closed.
func (x *Index) Start(ctx context.Context, stop <-chan struct{}) error {
	x.factory.Start(stop)
	synced := x.factory.WaitForCacheSync(ctx.Done())
	for typ, ok := range synced {
		if !ok {
			return fmt.Errorf("kubernetes index: %v: %w (is the API server reachable, and may this agent list and watch it?)", typ, ErrNotSynced)
		}
	}
	return nil
}

// Shutdown waits for the informers' goroutines after stop was closed.
func (x *Index) Shutdown() { x.factory.Shutdown() }

// PodByIP returns the pod with address ip. Host-network pods share their
// node's address and are never returned; when several pods claim ip (a
// terminated pod whose IP was reused), a running one wins.
func (x *Index) PodByIP(ip string) (Pod, bool) {
	var best *corev1.Pod
	for _, o := range x.lookup(x.pods, ip) {
		p := o.(*corev1.Pod)
		if p.Spec.HostNetwork {
			continue
		}
		if best == nil || (best.Status.Phase != corev1.PodRunning && p.Status.Phase == corev1.PodRunning) {
			best = p
		}
	}
	if best == nil {
		return Pod{}, false
	}
	return x.pod(best), true
}

// PodByName returns the pod namespace/name.
func (x *Index) PodByName(namespace, name string) (Pod, bool) {
	o, ok, err := x.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return Pod{}, false
	}
	return x.pod(o.(*corev1.Pod)), true
}

// ServiceByIP returns the Service whose ClusterIP, external IP or load
// balancer IP is ip.
func (x *Index) ServiceByIP(ip string) (Service, bool) {
	for _, o := range x.lookup(x.services, ip) {
		s := o.(*corev1.Service)
		return Service{Namespace: s.Namespace, Name: s.Name, Selector: maps.Clone(s.Spec.Selector)}, true
	}
	return Service{}, false
}

// NodeByIP returns the node with address ip (any of status.addresses).
func (x *Index) NodeByIP(ip string) (Node, bool) {
	for _, o := range x.lookup(x.nodes, ip) {
		return Node{Name: o.(*corev1.Node).Name}, true
	}
	return Node{}, false
}

func (x *Index) lookup(inf cache.SharedIndexInformer, ip string) []any {
	key, ok := normIP(ip)
	if !ok {
		return nil
	}
	objs, err := inf.GetIndexer().ByIndex(byIP, key)
	if err != nil {
		x.log.Warn("kubernetes index lookup failed", "ip", ip, "err", err)
		return nil
	}
	return objs
}

func (x *Index) pod(p *corev1.Pod) Pod {
	out := Pod{
		Namespace:   p.Namespace,
		Name:        p.Name,
		Labels:      maps.Clone(p.Labels),
		HostIP:      p.Status.HostIP,
		HostNetwork: p.Spec.HostNetwork,
		Node:        p.Spec.NodeName,
		Owner:       x.owner(p.Namespace, p.OwnerReferences),
	}
	for _, ip := range p.Status.PodIPs {
		out.IPs = append(out.IPs, ip.IP)
	}
	if len(out.IPs) == 0 && p.Status.PodIP != "" {
		out.IPs = []string{p.Status.PodIP}
	}
	return out
}

// owner follows controller references up to the top one: a pod's
// ReplicaSet to its Deployment, a Job to its CronJob.
func (x *Index) owner(namespace string, refs []metav1.OwnerReference) string {
	ref := metav1.GetControllerOfNoCopy(&metav1.ObjectMeta{OwnerReferences: refs})
	if ref == nil {
		return ""
	}
	var up []metav1.OwnerReference
	switch ref.Kind {
	case "ReplicaSet":
		if o, ok, err := x.replicas.GetStore().GetByKey(namespace + "/" + ref.Name); err == nil && ok {
			up = o.(*appsv1.ReplicaSet).OwnerReferences
		}
	case "Job":
		if o, ok, err := x.jobs.GetStore().GetByKey(namespace + "/" + ref.Name); err == nil && ok {
			up = o.(*batchv1.Job).OwnerReferences
		}
	}
	if top := x.owner(namespace, up); top != "" {
		return top
	}
	return ref.Kind + "/" + ref.Name
}

// ipIndexer indexes pods by their IPs, Services by their ClusterIPs,
// external and load balancer IPs, nodes by their addresses.
func ipIndexer(obj any) ([]string, error) {
	var ips []string
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Spec.HostNetwork {
			return nil, nil
		}
		ips = append(ips, o.Status.PodIP)
		for _, ip := range o.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
	case *corev1.Service:
		ips = append(ips, o.Spec.ClusterIPs...)
		ips = append(ips, o.Spec.ClusterIP)
		ips = append(ips, o.Spec.ExternalIPs...)
		for _, in := range o.Status.LoadBalancer.Ingress {
			ips = append(ips, in.IP)
		}
	case *corev1.Node:
		for _, a := range o.Status.Addresses {
			if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
				ips = append(ips, a.Address)
			}
		}
	}
	seen := map[string]bool{}
	var keys []string
	for _, ip := range ips {
		if k, ok := normIP(ip); ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// normIP returns the canonical text of ip ("::ffff:10.0.0.1" and
// "10.0.0.1" are the same key).
func normIP(ip string) (string, bool) {
	if ip == "" || strings.EqualFold(ip, "None") {
		return "", false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	return a.Unmap().String(), true
}

// trim drops what the lookups do not need before an object enters a
// cache: managed fields, annotations and pod specs' containers.
func trim(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		m.SetAnnotations(nil)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Spec = corev1.PodSpec{NodeName: o.Spec.NodeName, HostNetwork: o.Spec.HostNetwork}
		o.Status = corev1.PodStatus{Phase: o.Status.Phase, PodIP: o.Status.PodIP, PodIPs: o.Status.PodIPs, HostIP: o.Status.HostIP}
	case *appsv1.ReplicaSet:
		o.Spec = appsv1.ReplicaSetSpec{}
		o.Status = appsv1.ReplicaSetStatus{}
	case *batchv1.Job:
		o.Spec = batchv1.JobSpec{}
		o.Status = batchv1.JobStatus{}
	}
	return obj, nil
}

// Lookup is what a gadget's Kubernetes enrichment asks of the cluster;
// *Index implements it from informer caches.
type Lookup interface {
	PodByName(namespace, name string) (Pod, bool)
	PodByIP(ip string) (Pod, bool)
	ServiceByIP(ip string) (Service, bool)
	NodeByIP(ip string) (Node, bool)
}

// Enrichment is how a gadget's batches get the cluster's names on a node
// agent. A gadget that has one puts an *Enrichment in its
// gadget.Info.Extensions.
type Enrichment struct {
	// Enrich enriches batch, of the gadget's own type, in place from the
	// cluster's caches. It must not block.
	Enrich func(cluster Lookup, batch any)
}

// GadgetExtension implements gadget.Extension.
func (*Enrichment) GadgetExtension() string { return "kubernetes enrichment" }

// EnrichmentOf returns the Kubernetes enrichment info declares, and
// whether it declares one.
func EnrichmentOf(info *gadget.Info) (*Enrichment, bool) {
	for _, x := range info.Extensions {
		if e, ok := x.(*Enrichment); ok {
			return e, true
		}
	}
	return nil, false
}
