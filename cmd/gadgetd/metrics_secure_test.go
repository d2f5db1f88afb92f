package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestAgentMetricsSecure serves the agent's metrics with --metrics-secure
// against a real API server: HTTPS, and only a service account bound to
// deploy/rbac.yaml's ClusterRole gadget-metrics-reader reads them (the
// way Prometheus does, with its token); no token is 401, another account
// 403.
func TestAgentMetricsSecure(t *testing.T) {
	cfg, _ := apiServer(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ns = "monitoring"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := shippedClusterRole(t, "gadget-metrics-reader")
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-gadget-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	prometheus, other := testenv.ServiceAccountToken(t, cs, ns, "prometheus"), testenv.ServiceAccountToken(t, cs, ns, "other")

	reg, addr := counterRegistry(t), freeAddr(t)
	o := options{nodeName: "node-secure-metrics", metricsAddr: addr, healthAddr: "0",
		metrics: metricsOptions{trafficLimit: 10, secure: true}}
	runAgent(t, cfg, o, reg, staticTargets{})

	// The certificate is self-signed (no --metrics-cert-dir): the test,
	// like a Prometheus without the CA, does not verify it.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(tok string) (int, []byte) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/metrics", nil)
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := hc.Do(req)
			if err == nil {
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET https://%s/metrics: %v", addr, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if status, body := get(""); status != http.StatusUnauthorized {
		t.Errorf("no token: %d %s, want 401", status, body)
	}
	if status, body := get(other); status != http.StatusForbidden {
		t.Errorf("account without gadget-metrics-reader: %d %s, want 403", status, body)
	}
	status, body := get(prometheus)
	if status != http.StatusOK {
		t.Fatalf("gadget-metrics-reader: %d %s, want 200", status, body)
	}
	f, err := metricstest.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f["controller_runtime_reconcile_total"]; !ok {
		t.Errorf("controller_runtime_reconcile_total missing from the secure endpoint")
	}
	// Plain HTTP is not served.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP got 200: the endpoint must serve HTTPS only")
		}
	}
}

// shippedClusterRole returns the ClusterRole name of deploy/rbac.yaml.
func shippedClusterRole(t *testing.T, name string) *rbacv1.ClusterRole {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for doc := range bytes.SplitSeq(data, []byte("\n---\n")) {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "ClusterRole" && r.Name == name {
			return &r
		}
	}
	t.Fatalf("deploy/rbac.yaml has no ClusterRole %s", name)
	return nil
}
