package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestRunWithPluginsPrivileged traces real TCP traffic between two network
// namespaces with the WASM dot formatter and the portnames enricher, and
// checks that dot.wasm draws exactly what the built-in dot format draws
// from the same recorded events.
func TestRunWithPluginsPrivileged(t *testing.T) {
	testenv.RequirePrivileged(t)
	dir := t.TempDir()
	plugintest.BuildWasm(t, dir, "./plugins/dot", "./plugins/portnames")
	client, server := testenv.NewNetns(t, "client"), testenv.NewNetns(t, "server")
	link := testenv.Link(t, client, server)

	var ln net.Listener
	if err := server.Do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(link.B4.String(), "5432"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	// trace runs the CLI for three seconds while the client connects to the
	// server over and over, and returns its stdout.
	trace := func(args ...string) string {
		t.Helper()
		e := defaultEnv()
		var stdout, stderr bytes.Buffer
		e.stdout, e.stderr, e.signals = &stdout, &stderr, []os.Signal{syscall.SIGUSR2}
		done := make(chan int)
		go func() {
			done <- execute(context.Background(), append([]string{"run", "network-graph", "--netns", client.Name(), "--netns", server.Name(),
				"--duration", "3s", "--interval", "500ms"}, args...), e)
		}()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case code := <-done:
				if code != exitOK {
					t.Fatalf("gadget %s: exit code %d\n%s", strings.Join(args, " "), code, stderr.String())
				}
				return stdout.String()
			case <-tick.C:
				_ = client.Do(func() error {
					c, err := net.DialTimeout("tcp", net.JoinHostPort(link.B4.String(), "5432"), time.Second)
					if err == nil {
						c.Close()
					}
					return nil
				})
			}
		}
	}

	arrow := `"pod:` + client.Name() + `" -> "pod:` + server.Name() + `" [label="tcp/5432"];`
	// portnames names the port in the edge's annotations, which dot.wasm
	// adds to the arrow's label.
	named := strings.Replace(arrow, `tcp/5432"`, `tcp/5432\nportnames/service=postgres"`, 1)
	live := trace("--enricher", filepath.Join(dir, "portnames.wasm"), "--formatter", filepath.Join(dir, "dot.wasm"))
	if !strings.Contains(live, named) {
		t.Errorf("--enricher portnames.wasm --formatter dot.wasm printed no arrow %s:\n%s", named, live)
	}

	recorded := filepath.Join(dir, "events.json")
	if err := os.WriteFile(recorded, []byte(trace("-o", "json")), 0o644); err != nil {
		t.Fatal(err)
	}
	replay := func(formatter string) string {
		var stdout, stderr bytes.Buffer
		e := defaultEnv()
		e.stdout, e.stderr = &stdout, &stderr
		if code := execute(context.Background(), []string{"format", "network-graph", "--input", recorded, "--formatter", formatter}, e); code != exitOK {
			t.Fatalf("gadget format --formatter %s: exit code %d\n%s", formatter, code, stderr.String())
		}
		return stdout.String()
	}
	builtinDOT, wasmDOT := replay("dot"), replay(filepath.Join(dir, "dot.wasm"))
	if !strings.Contains(builtinDOT, arrow) {
		t.Errorf("the recorded trace has no edge %s:\n%s", arrow, builtinDOT)
	}
	if wasmDOT != builtinDOT {
		t.Errorf("dot.wasm differs from the built-in dot on the same events\ndot.wasm:\n%s\nbuilt-in:\n%s", wasmDOT, builtinDOT)
	}
}
