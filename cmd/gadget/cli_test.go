package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
	ngspec "github.com/gadgetkit/gadget/gadgets/networkgraph/spec"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// fakeGadget is a network-graph look-alike: each instance emits one edge
// per target when the target is added and a final warn event on Stop, and
// renders through the real network-graph formats.
type fakeGadget struct {
	failStart bool

	mu      sync.Mutex
	started chan struct{} // closed by the first Start
	params  map[string]string
	added   []string
	removed []string
}

type fakeInstance struct {
	g   *fakeGadget
	cfg gadget.Config
}

func (i *fakeInstance) Start(ctx context.Context) error {
	if i.g.failStart {
		return errors.New("load eBPF program: kernel has no BTF")
	}
	i.g.mu.Lock()
	defer i.g.mu.Unlock()
	select {
	case <-i.g.started:
	default:
		close(i.g.started)
	}
	return nil
}

func (i *fakeInstance) AddTarget(ctx context.Context, t gadget.Target) error {
	i.g.mu.Lock()
	i.g.added = append(i.g.added, t.ID)
	i.g.mu.Unlock()
	i.cfg.Emit([]types.Event{{
		Event:   eventtypes.Event{Node: i.cfg.Node, Pod: t.Pod},
		PktType: types.PktTypeOutgoing, Proto: "tcp", IP: "10.77.0.3", Port: 8080, Packets: 2, Bytes: 120,
	}})
	return nil
}

func (i *fakeInstance) RemoveTarget(ctx context.Context, id string) error {
	i.g.mu.Lock()
	defer i.g.mu.Unlock()
	i.g.removed = append(i.g.removed, id)
	return nil
}

func (i *fakeInstance) Stop(ctx context.Context) error {
	i.cfg.Emit([]types.Event{{Event: eventtypes.Warn(i.cfg.Node, "2 edges dropped")}})
	return nil
}

func (g *fakeGadget) info() *gadget.Info {
	return &gadget.Info{
		Name:        "fake-graph",
		Description: "A fake graph gadget. It emits one edge per target.",
		Operations: []gadget.Operation{
			{Name: "start", Doc: "Start", Handler: func(ctx context.Context, h gadget.Handle) error { return h.Start(ctx) }},
			{Name: "stop", Doc: "Stop", Handler: func(ctx context.Context, h gadget.Handle) error { return h.Stop(ctx) }},
		},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream},
		TypesPackage: "github.com/gadgetkit/gadget/gadgets/networkgraph/types",
		New: func(cfg gadget.Config) (gadget.Instance, error) {
			if _, err := time.ParseDuration(cfg.Parameters["interval"]); err != nil {
				return nil, fmt.Errorf("parameter interval: %w", err)
			}
			for k := range cfg.Parameters {
				if k != "interval" && k != "max-edges" {
					return nil, fmt.Errorf("parameter %q: unknown to fake-graph; known: interval, max-edges", k)
				}
			}
			g.mu.Lock()
			g.params = cfg.Parameters
			g.mu.Unlock()
			return &fakeInstance{g: g, cfg: cfg}, nil
		},
		Formats:   format.Names(),
		NewOutput: format.New,
		// network-graph's plugin support: the fake emits its events.
		Extensions: ngspec.Info().Extensions,
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI with args against a registry holding g only.
func run(t *testing.T, g *fakeGadget, euid int, args ...string) result {
	t.Helper()
	reg := &registry.Registry{}
	if err := reg.Register(g.info()); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	e := env{
		reg:      reg,
		stdout:   &stdout,
		stderr:   &stderr,
		euid:     func() int { return euid },
		hostname: func() (string, error) { return "node1", nil },
		resolve: func(ctx context.Context, node string, sel containers.Selector) ([]gadget.Target, error) {
			var out []gadget.Target
			for _, n := range sel.Netns {
				switch n {
				case "broken":
					return nil, errors.New("read /proc: permission denied")
				case "frontend", "api":
				default:
					return nil, fmt.Errorf("--netns %s: no network namespace named %q: %w: %w", n, n, containers.ErrNotFound, containers.ErrBadTarget)
				}
				out = append(out, gadget.Target{ID: "netns:" + n, Node: node, Pod: n, NetnsPath: "/var/run/netns/" + n})
			}
			for _, p := range sel.PIDs {
				out = append(out, gadget.Target{ID: fmt.Sprintf("pid:%d", p), Node: node, Pod: fmt.Sprintf("proc-%d", p)})
			}
			if sel.All {
				out = append(out, gadget.Target{ID: "netns:host", Node: node, Pod: "host"})
			}
			return out, nil
		},
		watch: func(ctx context.Context, interval time.Duration, resolve, _ func(context.Context) ([]gadget.Target, error), add func(gadget.Target), remove func(string)) error {
			first, err := resolve(ctx)
			if err != nil {
				return err
			}
			for _, t := range first {
				add(t)
			}
			add(gadget.Target{ID: "netns:late", Node: "node1", Pod: "late"})
			remove("netns:host")
			<-ctx.Done()
			return nil
		},
		signals: []os.Signal{syscall.SIGUSR1},
	}
	if g.started == nil {
		g.started = make(chan struct{})
	}
	code := execute(context.Background(), args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestUsageErrors checks that every mistake in the command line gives
// exit code 2 and exactly one line on stderr that names the flag.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		euid int
		args []string
		want string
	}{
		{"no gadget", 0, []string{"run"}, "name the gadget to run"},
		{"unknown gadget", 0, []string{"run", "nope"}, `unknown gadget "nope": use one of: fake-graph`},
		{"unknown command", 0, []string{"nope"}, `unknown command "nope"`},
		{"unknown flag", 0, []string{"run", "fake-graph", "--color"}, "unknown flag: --color"},
		{"extra argument", 0, []string{"run", "fake-graph", "--all", "extra"}, `unknown command "extra"`},
		{"no target", 0, []string{"run", "fake-graph"}, "no target selected: pass --netns NAME, --pid N or --all"},
		{"negative duration", 0, []string{"run", "fake-graph", "--all", "--duration", "-1s"}, "--duration -1s: must not be negative"},
		{"bad duration", 0, []string{"run", "fake-graph", "--all", "--duration", "soon"}, `"--duration" flag`},
		{"zero interval", 0, []string{"run", "fake-graph", "--all", "--interval", "0s"}, "--interval 0s: must be positive"},
		{"unknown output", 0, []string{"run", "fake-graph", "--all", "-o", "yaml"}, `--output "yaml": unknown format for fake-graph: use one of: table, json, jsonl, dot`},
		{"bad pid", 0, []string{"run", "fake-graph", "--pid", "-3"}, "--pid -3: must be a process id greater than 0"},
		{"pid not a number", 0, []string{"run", "fake-graph", "--pid", "one"}, `"--pid" flag`},
		{"bad log level", 0, []string{"--log-level", "loud", "run", "fake-graph", "--all"}, `--log-level "loud": use debug, info, warn or error`},
		{"not root", 1000, []string{"run", "fake-graph", "--all"}, "needs root"},
		{"param without =", 0, []string{"run", "fake-graph", "--all", "--param", "max-edges"}, `--param "max-edges": want KEY=VALUE, e.g. --param max-edges=4096`},
		{"param without key", 0, []string{"run", "fake-graph", "--all", "--param", "=4"}, `--param "=4": want KEY=VALUE`},
		{"param interval", 0, []string{"run", "fake-graph", "--all", "--param", "interval=1s"}, `--param "interval=1s": set the interval with --interval`},
		{"param twice", 0, []string{"run", "fake-graph", "--all", "--param", "max-edges=1", "--param", "max-edges=2"}, `--param "max-edges=2": max-edges is set twice; keep one`},
		{"param unknown to the gadget", 0, []string{"run", "fake-graph", "--all", "--param", "color=red"}, `fake-graph: parameter "color": unknown to fake-graph; known: interval, max-edges (set with --interval or --param KEY=VALUE)`},
		{"bad plugin memory", 0, []string{"run", "fake-graph", "--all", "--plugin-memory", "lots"}, `--plugin-memory "lots": not a size in bytes with an optional KiB, MiB or GiB; e.g. --plugin-memory 512MiB, or 0 for no cap`},
		{"negative plugin cpu", 0, []string{"run", "fake-graph", "--all", "--plugin-cpu", "-1s"}, "--plugin-cpu -1s: must not be negative"},
		{"bad plugin errors", 0, []string{"run", "fake-graph", "--all", "--plugin-errors", "ignore"}, `--plugin-errors "ignore": use fail (exit status 3 when a plugin call failed) or warn (exit status 0)`},
		{"no such netns", 0, []string{"run", "fake-graph", "--netns", "frontend", "--netns", "gone"}, `--netns gone: no network namespace named "gone"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, &fakeGadget{}, tt.euid, tt.args...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d", r.code, exitUsage)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "gadget: ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr = %q, want one line 'gadget: ...' containing %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestRuntimeErrors(t *testing.T) {
	tests := []struct {
		name string
		g    *fakeGadget
		args []string
		want string
	}{
		{"start fails", &fakeGadget{failStart: true}, []string{"run", "fake-graph", "--netns", "api", "--duration", "1s"}, "kernel has no BTF"},
		{"discovery fails", &fakeGadget{}, []string{"run", "fake-graph", "--netns", "broken"}, "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.g, 0, tt.args...)
			if r.code != exitFailure {
				t.Errorf("exit code %d, want %d (stderr %q)", r.code, exitFailure, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.want)
			}
		})
	}
}

func TestList(t *testing.T) {
	r := run(t, &fakeGadget{}, 1000, "list")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := "fake-graph  A fake graph gadget. It emits one edge per target.\n"
	if r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
}

// TestRun runs the fake gadget to the end of --duration in each format and
// checks the final result and the parameters the gadget received.
func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantOut    []string
		wantErr    []string
		wantAdded  []string
		wantRemove []string
	}{
		{
			name:      "table",
			args:      []string{"--netns", "frontend", "--netns", "api"},
			wantOut:   []string{"NODE", "node1  -          api       OUTGOING  tcp    10.77.0.3  8080", "frontend"},
			wantErr:   []string{"warning: node node1: 2 edges dropped", "level=INFO msg=tracing", "duration elapsed"},
			wantAdded: []string{"netns:api", "netns:frontend"},
		},
		{
			name:       "all follows targets",
			args:       []string{"--all", "-o", "jsonl", "--interval", "500ms", "--param", "max-edges=64"},
			wantOut:    []string{`"pod":"host"`, `"pod":"late"`, `"type":"warn"`},
			wantErr:    []string{`msg="target added" target=netns:late`, `msg="target removed" target=netns:host`},
			wantAdded:  []string{"netns:host", "netns:late"},
			wantRemove: []string{"netns:host"},
		},
		{
			name:      "dot",
			args:      []string{"--pid", "42", "-o", "dot"},
			wantOut:   []string{`"pod:proc-42" -> "ip:10.77.0.3" [label="tcp/8080"];`},
			wantAdded: []string{"pid:42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &fakeGadget{}
			args := append([]string{"run", "fake-graph", "--duration", "100ms"}, tt.args...)
			r := run(t, g, 0, args...)
			if r.code != exitOK {
				t.Fatalf("exit code %d, stderr:\n%s", r.code, r.stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, r.stderr)
				}
			}
			if n := strings.Count(r.stderr, `msg="target added"`); n > 1 {
				t.Errorf("%d targets logged as added, want at most the one that came late:\n%s", n, r.stderr)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			added := slices.Sorted(slices.Values(g.added))
			if !slices.Equal(added, tt.wantAdded) {
				t.Errorf("targets added %q, want %q", added, tt.wantAdded)
			}
			if !slices.Equal(g.removed, tt.wantRemove) {
				t.Errorf("targets removed %q, want %q", g.removed, tt.wantRemove)
			}
			if g.params["interval"] == "" {
				t.Errorf("the gadget got no interval parameter: %v", g.params)
			}
			if want := slices.Contains(tt.args, "--param"); want != (g.params["max-edges"] == "64") {
				t.Errorf("parameters %v: max-edges=64 passed by --param: %v", g.params, want)
			}
		})
	}
}

// TestRunStopsOnSignal runs without --duration and sends the stop signal
// once the trace has started: the run must end cleanly with the result.
func TestRunStopsOnSignal(t *testing.T) {
	g := &fakeGadget{started: make(chan struct{})}
	done := make(chan result)
	go func() { done <- run(t, g, 0, "run", "fake-graph", "--netns", "api", "-o", "json") }()
	select {
	case <-g.started:
	case r := <-done:
		t.Fatalf("run ended before the trace started: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("the trace did not start within 10s")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not stop within 10s of the signal")
	}
	if r.code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", r.code, r.stderr)
	}
	var events []types.Event
	if err := json.Unmarshal([]byte(r.stdout), &events); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(events) != 2 || events[0].Pod != "api" || events[1].Type != eventtypes.WARN {
		t.Errorf("events = %+v, want the api edge and the final warning", events)
	}
	if !strings.Contains(r.stderr, "signal received") {
		t.Errorf("stderr does not log the signal:\n%s", r.stderr)
	}
}
