package flood

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// shippedLimit is the memory limit of gadgetd in deploy/daemonset.yaml.
const shippedLimit = 512 << 20

// repoRoot is the repository's root folder.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestHundredTracesUnderShippedLimit runs the real gadgetd in a memory
// cgroup limited as the DaemonSet limits it (512 MiB) against a real API
// server, and creates 100 network-graph Traces on its node: the agent
// stays up (issue 18: it was OOM-killed at the 60th), starts as many as
// its automatic kernel memory budget (half the limit) holds and refuses
// the others by name.
func TestHundredTracesUnderShippedLimit(t *testing.T) {
	testenv.RequirePrivileged(t)
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env, cfg := testenv.StartAPIServer(t, &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "deploy", "crd")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	})
	admin, err := env.AddUser(envtest.User{Name: "flood-admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := "flood"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(dir, "gadgetd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gadgetd")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gadgetd: %v\n%s", err, out)
	}
	cg, peakFile, oomFile := memCgroup(t, shippedLimit)
	node := "flood-node"
	logPath := filepath.Join(dir, "gadgetd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--node-name", node, "--kubeconfig", kubeconfig, "--metrics-bind-address", "0",
		"--health-probe-bind-address", "0", "--stream-bind-address", "0", "--kube-enrich=false", "--require-scope-policy=false")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("move gadgetd into its cgroup: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("gadgetd log (end):\n%s", b[max(0, len(b)-8000):])
		}
	})

	const total = 100
	for i := range total {
		tr := &v1alpha1.Trace{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("graph-%03d", i)},
			Spec: v1alpha1.TraceSpec{Node: node, Gadget: "network-graph", OutputMode: v1alpha1.OutputModeStatus,
				RunMode: v1alpha1.RunModeAuto},
		}
		if err := c.Create(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	info, err := registry.Default.Lookup("network-graph")
	if err != nil {
		t.Fatal(err)
	}
	each, err := info.KernelMemory(nil)
	if err != nil {
		t.Fatal(err)
	}
	fit := int((shippedLimit / 2) / each)

	var list v1alpha1.TraceList
	var started, refused int
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			t.Fatalf("gadgetd exited: %v; OOM kills in its cgroup: %d", err, oomKills(t, oomFile))
		default:
		}
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		started, refused = 0, 0
		for _, tr := range list.Items {
			switch {
			case tr.Status.State == v1alpha1.TraceStateStarted:
				started++
			case tr.Status.OperationError != "":
				refused++
			}
		}
		if started+refused == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: %d started, %d refused of %d", started, refused, total)
		}
		time.Sleep(500 * time.Millisecond)
	}
	peak, _ := os.ReadFile(peakFile)
	t.Logf("%d started, %d refused; estimate %d bytes per trace, budget %d; gadgetd cgroup peak %s bytes of %d",
		started, refused, each, shippedLimit/2, strings.TrimSpace(string(peak)), shippedLimit)
	if started != fit {
		t.Errorf("%d traces started, want %d (half of %d bytes / %d bytes each)", started, fit, shippedLimit, each)
	}
	for _, tr := range list.Items {
		if tr.Status.State == v1alpha1.TraceStateStarted {
			continue
		}
		msg := tr.Status.OperationError
		if !strings.Contains(msg, "trace "+ns+"/"+tr.Name+" needs an estimated") || !strings.Contains(msg, "gadgetd --kernel-memory-budget") {
			t.Errorf("trace %s: operationError %q: want it named, with its estimate and the flag", tr.Name, msg)
		}
	}
	if n := oomKills(t, oomFile); n != 0 {
		t.Errorf("%d OOM kills in gadgetd's cgroup", n)
	}
	// Still up a while later, with the traces running.
	time.Sleep(3 * time.Second)
	select {
	case err := <-exited:
		t.Fatalf("gadgetd exited: %v", err)
	default:
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "kernel memory budget: half of the cgroup memory limit") {
		t.Errorf("gadgetd did not log its automatic budget")
	}
}
