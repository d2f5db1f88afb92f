//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	ngtypes "github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/test/internal/edgetest"
)

// checkUI runs "kubectl gadget network-graph ui" as the user (args: the
// global flags, e.g. --kubeconfig and --as) against the running trace, and
// checks that the page is served on this machine and that a connection
// made after it started reaches the page's event feed (/api/events, the
// Server-Sent Events the page reads) as an edge with its remote resolved.
// traffic makes the connection; want is its edge key and remote.
func checkUI(ctx context.Context, t *testing.T, kg string, args []string, agentPort string, traffic func(), wantKey, wantRemote string) {
	t.Helper()
	addr := freeAddr(t, "127.0.0.1")
	var stderr strings.Builder
	ui := exec.Command(kg, append(args, "network-graph", "ui", "--agent-port", agentPort, "--address", addr)...)
	ui.Stderr = &stderr
	if err := ui.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ui.Wait() }()
	t.Cleanup(func() { _ = ui.Process.Kill() })

	base := "http://" + addr + "/"
	poll(ctx, t, "kubectl gadget network-graph ui serves its page", func() (bool, string) {
		resp, err := http.Get(base)
		if err != nil {
			return false, fmt.Sprintf("%v; stderr: %s", err, stderr.String())
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "app.js"), fmt.Sprintf("%s: %.200s", resp.Status, body)
	})

	// Read the feed as the page does, while the connection is made again
	// and again until its edge arrives.
	feedCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(feedCtx, http.MethodGet, base+"api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %sapi/events: %v", base, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("GET %sapi/events: Content-Type %q, want text/event-stream", base, ct)
	}
	found := make(chan string, 1)
	go func() {
		defer close(found)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				event = name
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || event != "batch" {
				continue
			}
			var batch struct {
				Events []ngtypes.Event `json:"events"`
			}
			if err := json.Unmarshal([]byte(data), &batch); err != nil {
				found <- "undecodable batch: " + err.Error()
				return
			}
			for _, e := range batch.Events {
				if edgetest.Key(e) == wantKey {
					found <- edgetest.Remote(e)
					return
				}
			}
		}
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	traffic()
	for got := ""; ; {
		select {
		case r, ok := <-found:
			got = r
			if !ok || got == "" {
				t.Fatalf("the ui's event feed ended without the edge %s; stderr: %s", wantKey, stderr.String())
			}
			if got != wantRemote {
				t.Fatalf("the ui's event feed has %s → %q, want %q", wantKey, got, wantRemote)
			}
			t.Logf("kubectl gadget network-graph ui: page served on %s; the feed brought %s → %s", addr, wantKey, got)
			_ = ui.Process.Signal(syscall.SIGINT)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("kubectl gadget network-graph ui after Ctrl-C: %v; stderr: %s", err, stderr.String())
				}
			case <-time.After(10 * time.Second):
				t.Error("kubectl gadget network-graph ui did not end within 10s of Ctrl-C")
			}
			return
		case <-tick.C:
			traffic()
		case <-feedCtx.Done():
			t.Fatalf("no edge %s in the ui's event feed within 90s; stderr: %s", wantKey, stderr.String())
		}
	}
}
