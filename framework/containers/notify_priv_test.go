package containers_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestWatchSeesNewNetnsAtOnce checks that a named namespace is picked up
// when it is created, not at the next interval (an hour here).
func TestWatchSeesNewNetnsAtOnce(t *testing.T) {
	testenv.RequirePrivileged(t)
	ctx, cancel := context.WithCancel(t.Context())
	added := make(chan gadget.Target, 1024)
	done := make(chan error, 1)
	go func() {
		done <- containers.Watch(ctx, time.Hour,
			func(ctx context.Context) ([]gadget.Target, error) {
				return containers.Resolve(ctx, "n1", containers.Selector{All: true})
			},
			func(t gadget.Target) { added <- t },
			func(string) {})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	// Drain what exists already.
	for drained := false; !drained; {
		select {
		case <-added:
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	start := time.Now()
	ns := testenv.NewNetns(t, "notify")
	deadline := time.After(5 * time.Second)
	for {
		select {
		case tg := <-added:
			if strings.HasSuffix(tg.NetnsPath, "/"+ns.Name()) {
				t.Logf("new namespace %s added %v after its creation", ns.Name(), time.Since(start).Round(time.Millisecond))
				return
			}
		case <-deadline:
			t.Fatalf("namespace %s not added within 5s (the interval is an hour: inotify did not fire)", ns.Name())
		}
	}
}

// TestWatchNamedAddsByName checks that WatchNamed attaches a new named
// namespace through named alone: resolve here never reports it.
func TestWatchNamedAddsByName(t *testing.T) {
	testenv.RequirePrivileged(t)
	ctx, cancel := context.WithCancel(t.Context())
	sel := containers.Selector{All: true}
	first, err := containers.Resolve(ctx, "n1", sel)
	if err != nil {
		t.Fatal(err)
	}
	added := make(chan gadget.Target, 1024)
	done := make(chan error, 1)
	go func() {
		done <- containers.WatchNamed(ctx, time.Hour,
			func(context.Context) ([]gadget.Target, error) { return first, nil },
			func(ctx context.Context) ([]gadget.Target, error) { return containers.ResolveNamed(ctx, "n1", sel) },
			func(t gadget.Target) { added <- t },
			func(string) {})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchNamed: %v", err)
		}
	})
	for range first {
		<-added
	}
	start := time.Now()
	ns := testenv.NewNetns(t, "named")
	deadline := time.After(5 * time.Second)
	for {
		select {
		case tg := <-added:
			if strings.HasSuffix(tg.NetnsPath, "/"+ns.Name()) {
				if tg.Pod != ns.Name() {
					t.Errorf("added %+v: want Pod %s, its name", tg, ns.Name())
				}
				t.Logf("new namespace %s added %v after its creation", ns.Name(), time.Since(start).Round(time.Millisecond))
				return
			}
		case <-deadline:
			t.Fatalf("namespace %s not added within 5s: named was not called on its mount", ns.Name())
		}
	}
}

// TestPollDirsSeesChanges checks the fallback used where inotify is not
// available.
func TestPollDirsSeesChanges(t *testing.T) {
	testenv.RequirePrivileged(t)
	dir := t.TempDir()
	ch := containers.PollDirsForTest(t.Context(), []string{dir})
	time.Sleep(150 * time.Millisecond) // a first look at the folder
	if err := os.WriteFile(dir+"/ns", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("pollDirs did not report a file created in the folder")
	}
}

// TestWatchMounts checks that a mount is reported: `ip netns add` mounts
// the namespace on its file after creating it.
func TestWatchMounts(t *testing.T) {
	testenv.RequirePrivileged(t)
	ch := make(chan struct{}, 1)
	containers.WatchMountsForTest(t.Context(), "/proc/self/mountinfo", ch)
	select {
	case <-ch:
		t.Fatal("a change reported before anything was mounted")
	case <-time.After(100 * time.Millisecond):
	}
	dir := t.TempDir()
	if err := unix.Mount("gadget-test", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the mount was not reported within 5s")
	}
}
