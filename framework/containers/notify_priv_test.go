package containers_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

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
