package controller

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// The API server every Kubernetes test of the package shares, started once
// by TestMain when $KUBEBUILDER_ASSETS holds the binaries.
var (
	cluster struct {
		cfg    *rest.Config
		client client.Client
		err    error // why it did not start
	}
	scheme = k8sruntime.NewScheme()
)

func TestMain(m *testing.M) {
	flag.Parse()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	var env *envtest.Environment
	if dir := os.Getenv(testenv.AssetsEnv); dir != "" && !testing.Short() {
		env = &envtest.Environment{
			BinaryAssetsDirectory: dir,
			CRDDirectoryPaths:     []string{repoPath("deploy", "crd")},
			ErrorIfCRDPathMissing: true,
			Scheme:                scheme,
		}
		cluster.cfg, cluster.err = env.Start()
		if cluster.err == nil {
			cluster.client, cluster.err = client.New(cluster.cfg, client.Options{Scheme: scheme})
		}
	}
	code := m.Run()
	if env != nil && cluster.cfg != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the test API server: %v\n", err)
		}
	}
	os.Exit(code)
}

// repoPath is a path relative to the repository's root.
func repoPath(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", ".."}, parts...)...)
}

// requireCluster must be the first line of a Kubernetes test: it skips
// (fails under CI=true) without the API server binaries, and fails when
// the API server did not start.
func requireCluster(t *testing.T) client.Client {
	t.Helper()
	testenv.RequireAPIServer(t)
	if cluster.err != nil || cluster.client == nil {
		t.Fatalf("test API server did not start: %v", cluster.err)
	}
	return cluster.client
}

// agent is one node agent (manager + reconciler) run by a test.
type agent struct {
	r      *Reconciler
	cancel context.CancelFunc
	done   chan error
}

// stop stops the manager and waits for it, and so for every trace it ran.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	a.cancel()
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("manager: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("manager did not stop within a minute")
	}
}

// startAgent runs a node agent for opts.Node until the test ends.
func startAgent(t *testing.T, opts Options) *agent {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cluster.cfg, ctrl.Options{
		Cache:                  CacheOptions(opts.Node),
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &agent{r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- mgr.Start(ctx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			a.stop(t)
		}
	})
	orig := a.cancel
	a.cancel = func() { stopped = true; orig() }
	return a
}

// testWriter sends the agent's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gt-"}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// eventually polls cond every 50 ms until it holds, failing the test after
// 30 s with cond's last description.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitTrace polls the trace key until cond holds and returns it.
func waitTrace(t *testing.T, c client.Client, key types.NamespacedName, what string, cond func(*v1alpha1.Trace) bool) *v1alpha1.Trace {
	t.Helper()
	var tr v1alpha1.Trace
	eventually(t, fmt.Sprintf("trace %s: %s", key, what), func() (bool, string) {
		if err := c.Get(context.Background(), key, &tr); err != nil {
			return false, err.Error()
		}
		return cond(&tr), fmt.Sprintf("annotations %v, finalizers %v, status %+v", tr.Annotations, tr.Finalizers, tr.Status)
	})
	return &tr
}

// annotate asks for op on the trace key, as kubectl annotate does.
func annotate(t *testing.T, c client.Client, key types.NamespacedName, op string) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.OperationAnnotation, op)
	tr := &v1alpha1.Trace{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.Patch(context.Background(), tr, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("annotate %s with %s: %v", key, op, err)
	}
}

// handled reports whether the operation annotation is gone.
func handled(tr *v1alpha1.Trace) bool {
	_, ok := tr.Annotations[v1alpha1.OperationAnnotation]
	return !ok
}
