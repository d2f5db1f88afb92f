package containers_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// cgroupChildEnv makes the test binary, re-executed by
// TestHostCgroup2RootFromOwnNamespace, print what HostCgroup2Root finds.
const cgroupChildEnv = "GADGET_TEST_CGROUP2_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(cgroupChildEnv); dir != "" {
		own, _ := os.ReadFile("/proc/self/cgroup")
		ns, _ := os.Readlink("/proc/self/ns/cgroup")
		v2 := ""
		for _, l := range strings.Split(string(own), "\n") {
			if p, ok := strings.CutPrefix(l, "0::"); ok {
				v2 = p
			}
		}
		r, err := containers.HostCgroup2Root(dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		entries, _ := os.ReadDir(r.Path)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		fmt.Printf("ns=%s\nown=%s\nmounted=%v\nentries=%s\n", ns, v2, r.Mounted, strings.Join(names, ","))
		if err := r.Close(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func isCgroup2(t *testing.T, path string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("%s: file system type %#x, want cgroup2 (%#x)", path, st.Type, unix.CGROUP2_SUPER_MAGIC)
	}
}

// TestHostCgroup2Root checks that the root found in the host's cgroup
// namespace is the hierarchy's root, and that a mount it made is undone.
func TestHostCgroup2Root(t *testing.T) {
	testenv.RequirePrivileged(t)
	r, err := containers.HostCgroup2Root(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	isCgroup2(t, r.Path)
	if _, err := os.Stat(filepath.Join(r.Path, "cgroup.procs")); err != nil {
		t.Fatal(err)
	}
	// The root cgroup has no cgroup.events; every other cgroup does.
	if _, err := os.Stat(filepath.Join(r.Path, "cgroup.events")); err == nil {
		t.Errorf("%s has cgroup.events: not the root cgroup", r.Path)
	}
	path, mounted := r.Path, r.Mounted
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if mounted {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("after Close, %s: %v; want it removed", path, err)
		}
	}
}

// TestHostCgroup2RootFromOwnNamespace runs HostCgroup2Root in a process
// that is in a cgroup of its own and a cgroup namespace rooted there, as a
// container with cgroupns=private is: it must still find the host's root
// (where the test's cgroup is a child), not the process's own cgroup.
func TestHostCgroup2RootFromOwnNamespace(t *testing.T) {
	testenv.RequirePrivileged(t)
	root, err := containers.HostCgroup2Root(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Close() })
	name := fmt.Sprintf("gadget-test-%d", os.Getpid())
	cg := filepath.Join(root.Path, name)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(cg) })
	fd, err := unix.Open(cg, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cgroupChildEnv+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd, Cloneflags: syscall.CLONE_NEWCGROUP}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Logf("child:\n%s", got)
	// In its own namespace the child's cgroup is its namespace's root.
	if !strings.Contains(got, "own=/\n") || strings.Contains(got, "ns=cgroup:[4026531835]") {
		t.Errorf("the child is not in a cgroup namespace rooted at its cgroup:\n%s", got)
	}
	if !strings.Contains(got, "mounted=true\n") {
		t.Errorf("the child did not mount the hierarchy itself:\n%s", got)
	}
	// From the host's root, the test's cgroup is a child directory.
	entries := ""
	for _, l := range strings.Split(got, "\n") {
		if v, ok := strings.CutPrefix(l, "entries="); ok {
			entries = "," + v + ","
		}
	}
	if !strings.Contains(entries, ","+name+",") {
		t.Errorf("the child's root does not list %s: it is not the host's root:\n%s", name, got)
	}
}
