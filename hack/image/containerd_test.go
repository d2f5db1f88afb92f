package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestContainerdImport imports the image into a containerd of its own, as
// a node does (ctr -n k8s.io images import --all-platforms), and checks
// its name and digest, then runs it.
func TestContainerdImport(t *testing.T) {
	testenv.RequirePrivileged(t)
	testenv.RequireTool(t, "containerd", "containerd")
	testenv.RequireTool(t, "ctr", "containerd")
	testenv.RequireTool(t, "runc", "runc")
	res := buildHello(t, t.TempDir())
	ctr := startContainerd(t)

	out := ctr(t, "images", "import", "--all-platforms", res.Out)
	if !strings.Contains(out, "unpacking "+res.Ref+" ("+res.Index.String()+")") {
		t.Errorf("import says:\n%s", out)
	}
	list := ctr(t, "images", "ls")
	t.Logf("ctr -n k8s.io images ls:\n%s", list)
	var found bool
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == res.Ref {
			found = true
			if f[1] != "application/vnd.oci.image.index.v1+json" || f[2] != res.Index.String() || !strings.Contains(line, "linux/amd64,linux/arm64") {
				t.Errorf("image listed as %q; want the index %s for linux/amd64,linux/arm64", line, res.Index)
			}
		}
	}
	if !found {
		t.Fatalf("no image named %s after the import", res.Ref)
	}
	if got := ctr(t, "run", "--rm", res.Ref, "hello-"+fmt.Sprint(os.Getpid())); got != "hello v0.0.0-7-gabcdef0\n" {
		t.Errorf("the container prints %q, want its stamped version", got)
	}
}

// startContainerd starts containerd with its own root, state and socket
// under a temporary folder, stops it when the test ends, and returns a
// function that runs ctr against it in namespace k8s.io.
func startContainerd(t *testing.T) func(t *testing.T, args ...string) string {
	t.Helper()
	// containerd and its shims keep runtime files in /run/containerd
	// whatever the config says; remove it afterwards when it is the
	// test's (cleanups run last to first: after containerd has stopped).
	if _, err := os.Stat("/run/containerd"); os.IsNotExist(err) {
		t.Cleanup(func() { _ = os.RemoveAll("/run/containerd") })
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("containerd log:\n%s", logs.String())
		}
	})
	run := func(ctx context.Context, args ...string) (string, error) {
		args = append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)
		out, err := exec.CommandContext(ctx, "ctr", args...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := run(t.Context(), "version"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer within 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		out, err := run(ctx, args...)
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
}
