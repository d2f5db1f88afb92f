package containers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// fakeHost builds a /proc and a netns directory whose namespace files hold
// their inode number as text.
func fakeHost(t *testing.T, procs map[int]struct {
	comm string
	ino  uint64
}, named map[string]uint64) (host, string) {
	t.Helper()
	root := t.TempDir()
	proc, netns := filepath.Join(root, "proc"), filepath.Join(root, "netns")
	write := func(p, content string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for pid, p := range procs {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		write(filepath.Join(dir, "comm"), p.comm+"\n")
		write(filepath.Join(dir, "ns", "net"), strconv.FormatUint(p.ino, 10))
	}
	write(filepath.Join(proc, "self", "comm"), "ignored\n")
	for name, ino := range named {
		write(filepath.Join(netns, name), strconv.FormatUint(ino, 10))
	}
	return host{procRoot: proc, netnsRoots: []string{netns}, inode: func(p string) (uint64, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(string(b), 10, 64)
	}}, root
}

func TestResolve(t *testing.T) {
	h, root := fakeHost(t, map[int]struct {
		comm string
		ino  uint64
	}{
		1:   {"systemd", 100},
		42:  {"sshd", 100},
		300: {"nginx", 200},
		301: {"nginx", 200},
		400: {"redis-server", 300},
		500: {"postgres", 400},
	}, map[string]uint64{"frontend": 200, "db": 400, "empty": 500})

	tests := []struct {
		name    string
		sel     Selector
		want    []string // pod@path below the fake root
		wantErr string
		notFnd  bool
	}{
		{name: "named", sel: Selector{Netns: []string{"db", "frontend"}}, want: []string{"db@netns/db", "frontend@netns/frontend"}},
		{name: "pid", sel: Selector{PIDs: []int{400}}, want: []string{"redis-server-400@proc/400/ns/net"}},
		{name: "same netns twice keeps the first name", sel: Selector{Netns: []string{"frontend"}, PIDs: []int{301}}, want: []string{"frontend@netns/frontend"}},
		{name: "all", sel: Selector{All: true}, want: []string{"db@netns/db", "empty@netns/empty", "frontend@netns/frontend", "host@proc/1/ns/net", "redis-server-400@proc/400/ns/net"}},
		{name: "named first then all", sel: Selector{PIDs: []int{500}, All: true}, want: []string{"postgres-500@proc/500/ns/net", "empty@netns/empty", "frontend@netns/frontend", "host@proc/1/ns/net", "redis-server-400@proc/400/ns/net"}},
		{name: "missing netns", sel: Selector{Netns: []string{"nope"}}, wantErr: `--netns nope: no network namespace named "nope" (see 'ip netns list')`, notFnd: true},
		{name: "bad netns name", sel: Selector{Netns: []string{"../etc"}}, wantErr: `--netns "../etc": not a namespace name`},
		{name: "missing pid", sel: Selector{PIDs: []int{99999}}, wantErr: "--pid 99999: no such process", notFnd: true},
		{name: "bad pid", sel: Selector{PIDs: []int{-3}}, wantErr: "--pid -3: want a positive process ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.resolve(context.Background(), "node1", tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if errors.Is(err, ErrNotFound) != tt.notFnd {
					t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tt.notFnd, tt.notFnd)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var pods []string
			for _, tg := range got {
				if tg.Node != "node1" || tg.ID != "netns:"+strconv.FormatUint(tg.NetnsInode, 10) {
					t.Errorf("target %+v: bad node or ID", tg)
				}
				pods = append(pods, tg.Pod+"@"+strings.TrimPrefix(tg.NetnsPath, root+"/"))
			}
			if strings.Join(pods, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got  %v\nwant %v", pods, tt.want)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	tg := func(id string) gadget.Target { return gadget.Target{ID: id} }
	answers := [][]gadget.Target{
		{tg("a"), tg("b")},
		{tg("b"), tg("c")},
		{tg("c")},
	}
	var (
		mu     sync.Mutex
		calls  int
		events []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resolve := func(context.Context) ([]gadget.Target, error) {
		mu.Lock()
		defer mu.Unlock()
		i := min(calls, len(answers)-1)
		calls++
		if calls == len(answers)+2 {
			cancel()
		}
		return answers[i], nil
	}
	record := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	err := Watch(ctx, time.Millisecond,
		resolve, func(t gadget.Target) { record("+" + t.ID) }, func(id string) { record("-" + id) })
	if err != nil {
		t.Fatal(err)
	}
	want := "+a +b +c -a -b"
	if got := strings.Join(events, " "); got != want {
		t.Errorf("events = %q, want %q", got, want)
	}
	if err := Watch(context.Background(), time.Millisecond, func(context.Context) ([]gadget.Target, error) {
		return nil, errors.New("boom")
	}, nil, nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("first resolve failing: err = %v", err)
	}
	if err := Watch(ctx, 0, resolve, nil, nil); err == nil {
		t.Error("Watch with interval 0 succeeded")
	}
}
