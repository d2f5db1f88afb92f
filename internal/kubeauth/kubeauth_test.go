package kubeauth

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer  abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"", "", false},
	} {
		token, ok := bearer(tc.header)
		if ok != tc.ok || (ok && token != tc.token) {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tc.header, token, ok, tc.token, tc.ok)
		}
	}
}

// TestHandler asks a real API server: a service account bound to a
// ClusterRole that grants get on /metrics is let in, one without it is
// forbidden, a request without a token or with a forged one is
// unauthorized; answers are cached, so a second scrape sends no review.
func TestHandler(t *testing.T) {
	_, cfg := testenv.StartAPIServer(t, &envtest.Environment{})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := "kubeauth"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader, other := testenv.ServiceAccountToken(t, cs, ns, "prometheus"), testenv.ServiceAccountToken(t, cs, ns, "other")
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "prometheus"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r, err := New(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "secret")
	})))
	t.Cleanup(srv.Close)
	get := func(path, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, tc := range []struct {
		name, path, auth string
		status           int
		body             string
	}{
		{"no token", "/metrics", "", 401, "gadget-metrics-reader"},
		{"not bearer", "/metrics", "Basic " + reader, 401, "bearer token"},
		{"forged token", "/metrics", "Bearer " + reader[:len(reader)-4] + "AAAA", 401, "does not accept"},
		{"no right", "/metrics", "Bearer " + other, 403, "system:serviceaccount:kubeauth:other may not get /metrics"},
		{"other path", "/debug", "Bearer " + reader, 403, "may not get /debug"},
		{"reader", "/metrics", "Bearer " + reader, 200, "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.path, tc.auth)
			if status != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("GET %s: %d %q, want %d with %q", tc.path, status, body, tc.status, tc.body)
			}
		})
	}

	// Cached: the same requests again send no review until the answers
	// expire; then they are asked again.
	sent := r.sent()
	for range 3 {
		if status, _ := get("/metrics", "Bearer "+reader); status != 200 {
			t.Fatalf("reader: %d", status)
		}
		if status, _ := get("/metrics", "Bearer "+other); status != 403 {
			t.Fatalf("other: %d", status)
		}
	}
	if n := r.sent(); n != sent {
		t.Errorf("cached answers: %d reviews sent, want none", n-sent)
	}
	r.now = func() time.Time { return time.Now().Add(allowTTL + time.Second) }
	if status, _ := get("/metrics", "Bearer "+reader); status != 200 {
		t.Fatalf("reader after expiry: %d", status)
	}
	if n := r.sent(); n != sent+2 {
		t.Errorf("expired answer: %d reviews sent, want 2 (TokenReview, SubjectAccessReview)", n-sent)
	}
}

// TestHandlerAPIDown: when the API server cannot be asked, the request
// gets 503, not the data.
func TestHandlerAPIDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r, err := New(&rest.Config{Host: "http://" + addr}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Authorization", "Bearer x")
	r.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "secret") })).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("API server down: %d %q, want 503 without the data", rec.Code, rec.Body.String())
	}
}

func (r *Reviewer) sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reviews
}
