package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeProc is a process of a fake /proc. An empty comm or net leaves that
// file out, as for a process exiting during the scan.
type fakeProc struct{ comm, net string }

// fakeTree describes a host. Namespace files hold their inode number as
// text, or "stale" (not a namespace) or "denied" (permission denied), which
// fakeInode turns into the errors NetnsInode returns.
type fakeTree struct {
	procs map[int]fakeProc
	self  string            // /proc/self/ns/net
	named map[string]string // files in the netns directory
}

// build writes the tree under a temporary root and returns a host reading
// it. Like /var/run -> /run, the first netns root is a symlink to the
// second, so both list the same names.
func (ft fakeTree) build(t *testing.T) (host, string) {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for pid, p := range ft.procs {
		dir := filepath.Join("proc", strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if p.comm != "" {
			write(filepath.Join(dir, "comm"), p.comm+"\n")
		}
		if p.net != "" {
			write(filepath.Join(dir, "ns", "net"), p.net)
		}
	}
	if ft.self != "" {
		write("proc/self/ns/net", ft.self)
	}
	for name, content := range ft.named {
		write(filepath.Join("run", "netns", name), content)
	}
	if err := os.Symlink("run", filepath.Join(root, "varrun")); err != nil {
		t.Fatal(err)
	}
	return host{
		procRoot:   filepath.Join(root, "proc"),
		netnsRoots: []string{filepath.Join(root, "varrun", "netns"), filepath.Join(root, "run", "netns")},
		inode:      fakeInode,
	}, root
}

func fakeInode(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	switch s := string(b); s {
	case "stale":
		return 0, fmt.Errorf("network namespace %s: %w", path, errNotNamespace)
	case "denied":
		return 0, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrPermission}
	default:
		return strconv.ParseUint(s, 10, 64)
	}
}

// base is a host with a few processes and named namespaces:
//
//	100 host: systemd, kthreadd, sshd; also named "hostnet"
//	200 "frontend": nginx 300, 301
//	300 redis-server 400, unnamed
//	400 "db" and "zz-db": postgres 500
//	500 "empty": no process
//	700 only process 601, which exits during the scan (no comm)
var base = fakeTree{
	procs: map[int]fakeProc{
		1:   {"systemd", "100"},
		2:   {"kthreadd", "100"},
		42:  {"sshd", "100"},
		300: {"nginx", "200"},
		301: {"nginx", "200"},
		400: {"redis-server", "300"},
		500: {"postgres", "400"},
		600: {"", ""},
		601: {"", "700"},
		602: {"secret", "denied"},
	},
	self: "100",
	named: map[string]string{
		"frontend": "200", "db": "400", "zz-db": "400", "empty": "500",
		"hostnet": "100", "old": "stale", "locked": "denied",
	},
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		tree     *fakeTree // nil: base
		sel      Selector
		want     []string // pod@path below the fake root
		wantErr  string
		notFound bool
		asRoot   bool // the process resolving runs as root (euid 0)
	}{
		{name: "nothing", sel: Selector{}, want: nil},
		{name: "named", sel: Selector{Netns: []string{"db", "frontend"}},
			want: []string{"db@varrun/netns/db", "frontend@varrun/netns/frontend"}},
		{name: "second name of a namespace", sel: Selector{Netns: []string{"zz-db"}},
			want: []string{"zz-db@varrun/netns/zz-db"}},
		{name: "named without processes", sel: Selector{Netns: []string{"empty"}},
			want: []string{"empty@varrun/netns/empty"}},
		{name: "pid", sel: Selector{PIDs: []int{400}},
			want: []string{"redis-server-400@proc/400/ns/net"}},
		{name: "pid 1", sel: Selector{PIDs: []int{1}},
			want: []string{"systemd-1@proc/1/ns/net"}},
		{name: "name then pid of the same netns keeps the name", sel: Selector{Netns: []string{"frontend"}, PIDs: []int{301}},
			want: []string{"frontend@varrun/netns/frontend"}},
		{name: "two pids of one netns keep the first", sel: Selector{PIDs: []int{301, 300}},
			want: []string{"nginx-301@proc/301/ns/net"}},
		{name: "same name twice", sel: Selector{Netns: []string{"db", "db"}},
			want: []string{"db@varrun/netns/db"}},
		{name: "all", sel: Selector{All: true},
			want: []string{
				"db@varrun/netns/db",
				"empty@varrun/netns/empty",
				"frontend@varrun/netns/frontend",
				"host@proc/1/ns/net",
				"redis-server-400@proc/400/ns/net",
			}},
		{name: "explicit first, then the rest of all", sel: Selector{PIDs: []int{500}, All: true},
			want: []string{
				"postgres-500@proc/500/ns/net",
				"empty@varrun/netns/empty",
				"frontend@varrun/netns/frontend",
				"host@proc/1/ns/net",
				"redis-server-400@proc/400/ns/net",
			}},
		{name: "all with pid 1 hidden uses our own netns as the host",
			tree: &fakeTree{
				procs: map[int]fakeProc{1: {"init", "denied"}, 2: {"kthreadd", "100"}, 50: {"app", "900"}},
				self:  "100",
			},
			sel:  Selector{All: true},
			want: []string{"app-50@proc/50/ns/net", "host@proc/2/ns/net"}},
		{name: "all without a netns directory",
			tree: &fakeTree{procs: map[int]fakeProc{1: {"init", "100"}, 7: {"app", "900"}, 8: {"app", "900"}}},
			sel:  Selector{All: true},
			want: []string{"app-7@proc/7/ns/net", "host@proc/1/ns/net"}},

		{name: "missing netns", sel: Selector{Netns: []string{"nope"}}, notFound: true,
			wantErr: `--netns nope: no network namespace named "nope" (see 'ip netns list')`},
		{name: "stale netns", sel: Selector{Netns: []string{"old"}}, notFound: true,
			wantErr: `--netns old: ` + "%ROOT%" + `/varrun/netns/old is a stale name, not a mounted network namespace (remove it with 'ip netns del old')`},
		{name: "netns not readable", sel: Selector{Netns: []string{"locked"}},
			wantErr: "--netns locked: stat %ROOT%/varrun/netns/locked: permission denied: run as root"},
		{name: "netns path", sel: Selector{Netns: []string{"../etc"}},
			wantErr: `--netns "../etc": not a namespace name: use a name from 'ip netns list'`},
		{name: "empty netns name", sel: Selector{Netns: []string{""}},
			wantErr: `--netns "": not a namespace name`},
		{name: "missing pid", sel: Selector{PIDs: []int{99999}}, notFound: true,
			wantErr: "--pid 99999: no such process"},
		{name: "pid without a netns", sel: Selector{PIDs: []int{600}}, notFound: true,
			wantErr: "--pid 600: no such process"},
		{name: "pid exiting while resolved", sel: Selector{PIDs: []int{601}}, notFound: true,
			wantErr: "--pid 601: no such process"},
		{name: "pid not readable", sel: Selector{PIDs: []int{602}},
			wantErr: "--pid 602: stat %ROOT%/proc/602/ns/net: permission denied: run as root"},
		{name: "pid not readable by root", sel: Selector{PIDs: []int{602}}, asRoot: true,
			wantErr: "--pid 602: stat %ROOT%/proc/602/ns/net: permission denied: gadget runs as root, yet the kernel's ptrace access check refused its namespace"},
		{name: "netns not readable by root", sel: Selector{Netns: []string{"locked"}}, asRoot: true,
			wantErr: "--netns locked: stat %ROOT%/varrun/netns/locked: permission denied: gadget runs as root, yet"},
		{name: "netns given as a process's path", sel: Selector{Netns: []string{"/proc/1/ns/net"}},
			wantErr: `--netns "/proc/1/ns/net": takes a name from 'ip netns list', not a path: for the network namespace of process 1 use --pid 1`},
		{name: "netns name too long", sel: Selector{Netns: []string{strings.Repeat("n", 256)}},
			wantErr: "--netns nnnnnnnnnnnnnnnnnnnn…: a name of 256 bytes, longer than any file name (255): use a name from 'ip netns list'"},
		{name: "netns name of the longest length", sel: Selector{Netns: []string{strings.Repeat("n", 255)}}, notFound: true,
			wantErr: "--netns " + strings.Repeat("n", 255) + ": no network namespace named"},
		{name: "negative pid", sel: Selector{PIDs: []int{-3}},
			wantErr: "--pid -3: not a process ID: use a positive number"},
		{name: "pid 0", sel: Selector{PIDs: []int{0}},
			wantErr: "--pid 0: not a process ID"},
		{name: "a bad selector fails the whole call", sel: Selector{Netns: []string{"db"}, PIDs: []int{99999}, All: true}, notFound: true,
			wantErr: "--pid 99999: no such process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := base
			if tt.tree != nil {
				tree = *tt.tree
			}
			h, root := tree.build(t)
			h.euid = func() int { return 1000 }
			if tt.asRoot {
				h.euid = func() int { return 0 }
			}
			got, err := h.resolve(context.Background(), "node1", tt.sel, true)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "%ROOT%", root)
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error = %v\nwant prefix %q", err, want)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				if errors.Is(err, ErrNotFound) != tt.notFound {
					t.Errorf("errors.Is(err, ErrNotFound) = %v, want %v", !tt.notFound, tt.notFound)
				}
				// Every error about a selected target is the user's to fix.
				if !errors.Is(err, ErrBadTarget) {
					t.Errorf("error %q does not wrap ErrBadTarget", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var pods []string
			for _, tg := range got {
				ino, err := fakeInode(tg.NetnsPath)
				if err != nil || ino != tg.NetnsInode {
					t.Errorf("target %+v: NetnsInode %d, file says %d (%v)", tg, tg.NetnsInode, ino, err)
				}
				if tg.Node != "node1" || tg.ID != "netns:"+strconv.FormatUint(tg.NetnsInode, 10) {
					t.Errorf("target %+v: want Node node1 and ID netns:<inode>", tg)
				}
				pods = append(pods, tg.Pod+"@"+strings.TrimPrefix(tg.NetnsPath, root+"/"))
			}
			if strings.Join(pods, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got  %q\nwant %q", pods, tt.want)
			}
		})
	}
}

// ResolveNamed returns what Resolve returns for the named namespaces, the
// same targets with the same labels, without the namespaces only processes
// lead to.
func TestResolveNamed(t *testing.T) {
	tests := []struct {
		name string
		sel  Selector
		want []string // pods
	}{
		{name: "all", sel: Selector{All: true}, want: []string{"db", "empty", "frontend"}},
		{name: "a pid first keeps its label", sel: Selector{PIDs: []int{500}, All: true},
			want: []string{"postgres-500", "empty", "frontend"}}, // pid 500 is in db's namespace
		{name: "names", sel: Selector{Netns: []string{"zz-db", "frontend"}}, want: []string{"zz-db", "frontend"}},
		{name: "a name then all", sel: Selector{Netns: []string{"zz-db"}, All: true},
			want: []string{"zz-db", "empty", "frontend"}},
	}
	h, _ := base.build(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			named, err := h.resolve(context.Background(), "n", tt.sel, false)
			if err != nil {
				t.Fatal(err)
			}
			full, err := h.resolve(context.Background(), "n", tt.sel, true)
			if err != nil {
				t.Fatal(err)
			}
			var pods []string
			for _, tg := range named {
				pods = append(pods, tg.Pod)
				if !slices.Contains(full, tg) {
					t.Errorf("ResolveNamed gave %+v, which Resolve does not: %+v", tg, full)
				}
			}
			if !slices.Equal(pods, tt.want) {
				t.Errorf("pods %q, want %q", pods, tt.want)
			}
		})
	}
}

func TestResolveStableOrder(t *testing.T) {
	h, _ := base.build(t)
	first, err := h.resolve(context.Background(), "n", Selector{All: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := h.resolve(context.Background(), "n", Selector{All: true}, true)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("order changed:\n%v\n%v", first, again)
		}
	}
}

func TestResolveCancelled(t *testing.T) {
	h, _ := base.build(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.resolve(ctx, "n", Selector{All: true}, true)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "--all: ") {
		t.Errorf("error = %v, want --all: ... wrapping context.Canceled", err)
	}
	// Explicit selectors need no scan and ignore ctx.
	if _, err := h.resolve(ctx, "n", Selector{Netns: []string{"db"}}, true); err != nil {
		t.Errorf("named namespace with a cancelled context: %v", err)
	}
}
