package kubemeta_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gadgetkit/gadget/framework/kubemeta"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// startCluster starts a real API server and returns a client of it.
func startCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	_, cfg := testenv.StartAPIServer(t, nil)
	return kubernetes.NewForConfigOrDie(cfg)
}

// createPod creates a running pod with the given IPs.
func createPod(t *testing.T, c kubernetes.Interface, p *corev1.Pod, ips ...string) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	if len(p.Spec.Containers) == 0 {
		p.Spec.Containers = []corev1.Container{{Name: "main", Image: "example.test/main"}}
	}
	got, err := c.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	got.Status.Phase = corev1.PodRunning
	got.Status.HostIP = "192.168.50.1"
	for _, ip := range ips {
		got.Status.PodIPs = append(got.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		got.Status.PodIP = ips[0]
	}
	got, err = c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("set pod %s status: %v", p.Name, err)
	}
	return got
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIndex(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()

	for _, ns := range []string{"shop", "data"} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Deployment → ReplicaSet → pod, as the controllers would make them.
	dep, err := c.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "example.test/api"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            "api-77c6b",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Selector: dep.Spec.Selector,
			Template: dep.Spec.Template,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "api-77c6b-x1", Namespace: "shop", Labels: map[string]string{"app": "api", "pod-template-hash": "77c6b"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}},
	}}, "10.244.1.5", "fd00:244::5")
	createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "data", Labels: map[string]string{"app": "db"}}}, "10.244.2.7")
	// A host-network pod has the node's address: it must not claim it.
	createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "proxy", Namespace: "shop"},
		Spec: corev1.PodSpec{HostNetwork: true}}, "192.168.50.1")

	svc, err := c.CoreV1().Services("shop").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{
			Selector:    map[string]string{"app": "api"},
			Ports:       []corev1.ServicePort{{Port: 80}},
			ExternalIPs: []string{"198.51.100.7"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.50.1"}, {Type: corev1.NodeHostName, Address: "worker-1"}}
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	idx, err := kubemeta.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer func() { close(stop); idx.Shutdown() }()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := idx.Start(startCtx, stop); err != nil {
		t.Fatalf("Start: %v", err)
	}

	t.Run("pod by IP and owner", func(t *testing.T) {
		for _, ip := range []string{"10.244.1.5", "fd00:244::5", "fd00:244:0:0:0:0:0:5", "::ffff:10.244.1.5"} {
			p, ok := idx.PodByIP(ip)
			if !ok || p.Namespace != "shop" || p.Name != "api-77c6b-x1" {
				t.Fatalf("PodByIP(%s) = %+v, %v; want shop/api-77c6b-x1", ip, p, ok)
			}
			if p.Owner != "Deployment/api" {
				t.Errorf("owner = %q, want Deployment/api (the ReplicaSet's owner)", p.Owner)
			}
		}
		p, ok := idx.PodByName("data", "db-0")
		if !ok || p.Owner != "" || p.Labels["app"] != "db" || p.HostIP != "192.168.50.1" {
			t.Errorf("PodByName(data, db-0) = %+v, %v", p, ok)
		}
	})
	t.Run("service by IP", func(t *testing.T) {
		for _, ip := range append(svc.Spec.ClusterIPs, "198.51.100.7") {
			s, ok := idx.ServiceByIP(ip)
			if !ok || s.Name != "api" || s.Namespace != "shop" || s.Selector["app"] != "api" {
				t.Errorf("ServiceByIP(%s) = %+v, %v; want shop/api", ip, s, ok)
			}
		}
	})
	t.Run("node by IP, host network pod ignored", func(t *testing.T) {
		eventually(t, "the node's address in the cache", func() bool {
			n, ok := idx.NodeByIP("192.168.50.1")
			return ok && n.Name == "worker-1"
		})
		if p, ok := idx.PodByIP("192.168.50.1"); ok {
			t.Errorf("PodByIP(node address) = %+v: host-network pods must not claim the node's address", p)
		}
	})
	t.Run("unknown and malformed", func(t *testing.T) {
		for _, ip := range []string{"203.0.113.1", "", "not-an-ip", "None"} {
			if _, ok := idx.PodByIP(ip); ok {
				t.Errorf("PodByIP(%q) found a pod", ip)
			}
			if _, ok := idx.ServiceByIP(ip); ok {
				t.Errorf("ServiceByIP(%q) found a service", ip)
			}
		}
	})
	t.Run("churn: an IP reused by a new pod", func(t *testing.T) {
		if err := c.CoreV1().Pods("data").Delete(ctx, "db-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		createPod(t, c, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cache-0", Namespace: "data", Labels: map[string]string{"app": "cache"}}}, "10.244.2.7")
		eventually(t, "10.244.2.7 to belong to data/cache-0", func() bool {
			p, ok := idx.PodByIP("10.244.2.7")
			return ok && p.Name == "cache-0"
		})
		if _, ok := idx.PodByName("data", "db-0"); ok {
			t.Error("deleted pod data/db-0 still in the cache")
		}
	})
}
