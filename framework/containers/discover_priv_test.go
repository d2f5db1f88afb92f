package containers_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// startIn starts sleep inside ns and returns its pid once it runs there as
// "sleep"; it is killed when the test ends.
func startIn(t *testing.T, ns *testenv.Netns) int {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name(), "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep in %s: %v", ns.Name(), err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	want := inode(t, ns.Path())
	// ip netns exec joins the namespace, then execs sleep in place.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ino, err := containers.NetnsInode("/proc/" + strconv.Itoa(pid) + "/ns/net")
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err == nil && ino == want && string(comm) == "sleep\n" {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never ran sleep inside %s", pid, ns.Name())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	ino, err := containers.NetnsInode(path)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

func resolve(t *testing.T, sel containers.Selector) []gadget.Target {
	t.Helper()
	ts, err := containers.Resolve(context.Background(), "n1", sel)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", sel, err)
	}
	return ts
}

func TestResolveRealHost(t *testing.T) {
	testenv.RequirePrivileged(t)
	ns := testenv.NewNetns(t, "disc")
	pid := startIn(t, ns)
	ino := inode(t, ns.Path())
	wantID := "netns:" + strconv.FormatUint(ino, 10)

	byName := resolve(t, containers.Selector{Netns: []string{ns.Name()}})
	byPID := resolve(t, containers.Selector{PIDs: []int{pid}})
	both := resolve(t, containers.Selector{PIDs: []int{pid}, Netns: []string{ns.Name()}})
	if len(byName) != 1 || len(byPID) != 1 || len(both) != 1 {
		t.Fatalf("got %d, %d and %d targets, want 1 each", len(byName), len(byPID), len(both))
	}
	for _, c := range []struct {
		what      string
		got       gadget.Target
		pod, path string
	}{
		{"--netns", byName[0], ns.Name(), ns.Path()},
		{"--pid", byPID[0], "sleep-" + strconv.Itoa(pid), "/proc/" + strconv.Itoa(pid) + "/ns/net"},
		{"--netns and --pid", both[0], ns.Name(), ns.Path()},
	} {
		if c.got.Pod != c.pod || c.got.NetnsPath != c.path || c.got.ID != wantID || c.got.NetnsInode != ino || c.got.Node != "n1" {
			t.Errorf("%s: got %+v, want Pod %q, NetnsPath %s, ID %s, Node n1", c.what, c.got, c.pod, c.path, wantID)
		}
	}

	all := resolve(t, containers.Selector{All: true})
	self := inode(t, "/proc/self/ns/net")
	var sawNs, sawHost bool
	seen := map[string]bool{}
	for _, tg := range all {
		if seen[tg.ID] {
			t.Errorf("--all lists %s twice", tg.ID)
		}
		seen[tg.ID] = true
		switch tg.ID {
		case wantID:
			sawNs = tg.Pod == ns.Name() && tg.NetnsPath == ns.Path()
		case "netns:" + strconv.FormatUint(self, 10):
			sawHost = tg.Pod == containers.HostPod
		}
	}
	if !sawNs || !sawHost {
		t.Errorf("--all: want %s as %s and our own netns as %q, got %+v", wantID, ns.Name(), containers.HostPod, all)
	}
}

func TestResolveRealErrors(t *testing.T) {
	testenv.RequirePrivileged(t)
	// A plain file in /run/netns looks like a name to ip netns list but is
	// no namespace, as after a reboot.
	stale := "gt-stale-" + strconv.Itoa(os.Getpid())
	path := "/run/netns/" + stale
	if err := os.MkdirAll("/run/netns", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(path) })

	for _, c := range []struct {
		sel  containers.Selector
		want string
	}{
		{containers.Selector{Netns: []string{stale}}, "--netns " + stale + ": "},
		{containers.Selector{Netns: []string{"gt-no-such-netns"}}, `--netns gt-no-such-netns: no network namespace named "gt-no-such-netns"`},
		{containers.Selector{PIDs: []int{1 << 30}}, "--pid 1073741824: no such process"},
	} {
		_, err := containers.Resolve(context.Background(), "n1", c.sel)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, containers.ErrNotFound) ||
			(len(c.sel.Netns) > 0 && c.sel.Netns[0] == stale && !strings.Contains(err.Error(), "is a stale name")) {
			t.Errorf("Resolve(%+v) = %v, want %q... wrapping ErrNotFound", c.sel, err, c.want)
		}
	}
	for _, tg := range resolve(t, containers.Selector{All: true}) {
		if tg.Pod == stale {
			t.Errorf("--all lists the stale name: %+v", tg)
		}
	}
}

// TestWatchRealHost follows --all while a namespace comes and goes.
func TestWatchRealHost(t *testing.T) {
	testenv.RequirePrivileged(t)
	ctx, cancel := context.WithCancel(context.Background())
	added := make(chan gadget.Target, 1024)
	removed := make(chan string, 1024)
	done := make(chan error, 1)
	go func() {
		done <- containers.Watch(ctx, 20*time.Millisecond,
			func(ctx context.Context) ([]gadget.Target, error) {
				return containers.Resolve(ctx, "n1", containers.Selector{All: true})
			},
			func(t gadget.Target) {
				select {
				case added <- t:
				case <-ctx.Done():
				}
			},
			func(id string) {
				select {
				case removed <- id:
				case <-ctx.Done():
				}
			})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})

	var id string
	t.Run("appears", func(t *testing.T) {
		ns := testenv.NewNetns(t, "watch")
		id = "netns:" + strconv.FormatUint(inode(t, ns.Path()), 10)
		deadline := time.After(10 * time.Second)
		for {
			select {
			case tg := <-added:
				// `ip netns add` creates the namespace before it mounts it
				// on its name: a rescan in between finds it through the
				// ip process first (Pod "ip-PID"); Watch adds it again by
				// its name once mounted.
				if tg.ID != id {
					continue
				}
				if tg.Pod == ns.Name() {
					return
				}
				if !strings.HasPrefix(tg.Pod, "ip-") {
					t.Errorf("added %+v, want Pod %s (or ip-PID first)", tg, ns.Name())
				}
			case <-deadline:
				t.Fatalf("%s (%s) never added under its name", ns.Name(), id)
			}
		}
	})
	if id == "" {
		return
	}
	// The subtest's cleanup deleted the namespace.
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-removed:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("%s never removed", id)
		}
	}
}
