package goplugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/internal/testenv"
	sdk "github.com/gadgetkit/gadget/plugins/sdk/goplugin"
)

// execDir returns a new directory that a plugin running as nobody can
// reach, removed after the test (t.TempDir's parent is private).
func execDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goplugin-exec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStartTime logs how long opening a plugin takes: a start through
// the launcher (the test binary) plus the handshake.
func TestStartTime(t *testing.T) {
	for range 3 {
		start := time.Now()
		f, err := OpenFormatter(t.Context(), csvPlugin, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("open: %v", time.Since(start))
		_ = f.Close()
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		euid int
		want identity
	}{
		{"root host drops to nobody", Options{}, 0, identity{drop: true, uid: DefaultUID, gid: DefaultGID}},
		{"root host, chosen user", Options{UID: 1234, GID: 99}, 0, identity{drop: true, uid: 1234, gid: 99}},
		{"root host, privileged plugin", Options{Privileged: true, UID: 1234}, 0, identity{}},
		{"unprivileged host runs it as itself", Options{}, 1000, identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &host{opts: tt.opts}
			if got := h.identity(tt.euid); got != tt.want {
				t.Errorf("identity(%d) = %+v, want %+v", tt.euid, got, tt.want)
			}
		})
	}
}

func TestCheckExecutable(t *testing.T) {
	dir := execDir(t)
	private := filepath.Join(dir, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"open": 0o755, "owner-only": 0o700} {
		for _, d := range []string{dir, private} {
			if err := os.WriteFile(filepath.Join(d, name), nil, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(d, name), mode); err != nil { // past the umask
				t.Fatal(err)
			}
		}
	}
	nobody := identity{drop: true, uid: DefaultUID, gid: DefaultGID}
	tests := []struct {
		id      identity
		path    string
		wantErr string
	}{
		{nobody, filepath.Join(dir, "open"), ""},
		{nobody, filepath.Join(dir, "owner-only"), "the plugin runs as uid 65534 without privileges, which cannot execute it: make the file and its directories readable and executable by others (chmod o+rx), or let the plugin keep the host's privileges (--plugin-privileged owner-only)"},
		{nobody, filepath.Join(private, "open"), "cannot enter " + private},
		{identity{}, filepath.Join(private, "owner-only"), ""},
	}
	for _, tt := range tests {
		err := tt.id.checkExecutable(tt.path)
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v checkExecutable(%s) = %v, want %q", tt.id, tt.path, err, tt.wantErr)
		}
	}
}

// TestPluginPrivileges starts a real go-plugin child from a root host and
// asks it who it is: without Options.Privileged it runs as nobody with no
// capability, no_new_privs and none of the host's environment.
func TestPluginPrivileges(t *testing.T) {
	testenv.RequirePrivileged(t)
	t.Setenv("GADGET_TEST_AGENT_SECRET", "token-of-the-agent")
	tests := []struct {
		name    string
		opts    Options
		uid     int
		capsEff bool // any effective capability
	}{
		{"default", Options{Env: []string{"PLUGIN_SETTING=1"}}, DefaultUID, false},
		{"chosen user", Options{UID: 4242, GID: 4242}, 4242, false},
		{"privileged", Options{Privileged: true}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := openFormatter(t, faultyPlugin, tt.opts)
			out, err := f.Format(t.Context(), plugin.Batch{Sequence: 1, Events: []byte(`[]`)}, map[string]string{"mode": "whoami"})
			if err != nil {
				t.Fatal(err)
			}
			var id struct {
				UID, GID int
				Groups   []int
				Status   map[string]string
				Env      []string
			}
			if err := json.Unmarshal(out.Data, &id); err != nil {
				t.Fatalf("whoami: %v: %s", err, out.Data)
			}
			t.Logf("plugin identity: %s", out.Data)
			if id.UID != tt.uid {
				t.Errorf("uid %d, want %d", id.UID, tt.uid)
			}
			if eff := id.Status["CapEff"]; (strings.Trim(eff, "0") != "") != tt.capsEff {
				t.Errorf("CapEff %s, want capabilities: %v", eff, tt.capsEff)
			}
			if !tt.opts.Privileged {
				if id.GID != tt.uid || len(id.Groups) != 0 {
					t.Errorf("gid %d, groups %v; want gid %d and no groups", id.GID, id.Groups, tt.uid)
				}
				for _, c := range []string{"CapPrm", "CapAmb"} {
					if strings.Trim(id.Status[c], "0") != "" {
						t.Errorf("%s %s, want none", c, id.Status[c])
					}
				}
			}
			if id.Status["NoNewPrivs"] != "1" {
				t.Errorf("NoNewPrivs %q, want 1", id.Status["NoNewPrivs"])
			}
			for _, kv := range id.Env {
				k, _, _ := strings.Cut(kv, "=")
				// go-plugin's handshake variables and the magic cookie;
				// nothing of the host's.
				if !strings.HasPrefix(k, "PLUGIN_") && k != sdk.MagicCookieKey {
					t.Errorf("plugin environment has %s", kv)
				}
			}
			if slices.ContainsFunc(id.Env, func(kv string) bool { return strings.Contains(kv, "token-of-the-agent") }) {
				t.Error("the host's secret reached the plugin")
			}
			for _, kv := range tt.opts.Env {
				if !slices.Contains(id.Env, kv) {
					t.Errorf("Options.Env %s missing from the plugin's environment %q", kv, id.Env)
				}
			}
		})
	}
}
