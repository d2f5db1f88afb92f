package containers_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/internal/testenv"
)

func TestResolveRealHost(t *testing.T) {
	testenv.RequirePrivileged(t)
	ns := testenv.NewNetns(t, "disc")
	sleep := exec.Command("ip", "netns", "exec", ns.Name(), "sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	pid := sleep.Process.Pid
	// ip netns exec execs sleep in place; wait until it has switched.
	host, _ := containers.NetnsInode("/proc/1/ns/net")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ino, err := containers.NetnsInode("/proc/" + strconv.Itoa(pid) + "/ns/net")
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err == nil && ino != host && string(comm) == "sleep\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never entered %s", pid, ns.Name())
		}
		time.Sleep(10 * time.Millisecond)
	}

	ctx := context.Background()
	byName, err := containers.Resolve(ctx, "n1", containers.Selector{Netns: []string{ns.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	byPID, err := containers.Resolve(ctx, "n1", containers.Selector{PIDs: []int{pid}})
	if err != nil {
		t.Fatal(err)
	}
	if len(byName) != 1 || len(byPID) != 1 {
		t.Fatalf("got %d and %d targets, want 1 each", len(byName), len(byPID))
	}
	if byName[0].Pod != ns.Name() || byPID[0].Pod != "sleep-"+strconv.Itoa(pid) {
		t.Errorf("pods = %q, %q", byName[0].Pod, byPID[0].Pod)
	}
	if byName[0].ID != byPID[0].ID {
		t.Errorf("same netns, different IDs: %s and %s", byName[0].ID, byPID[0].ID)
	}
	all, err := containers.Resolve(ctx, "n1", containers.Selector{All: true})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, tg := range all {
		found[tg.Pod] = true
	}
	if !found["host"] || !found[ns.Name()] {
		t.Errorf("--all found %v, want host and %s among them", all, ns.Name())
	}
}
