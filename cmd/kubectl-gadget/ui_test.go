package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// TestServeUI feeds the view from a fake stream and reads what a page
// gets: the stream's events as a batch and its warnings.
func TestServeUI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := uiSource{
		gadget: "network-graph",
		source: "test",
		follow: func(ctx context.Context, warn io.Writer, emit func([]any) error) error {
			fmt.Fprintln(warn, "warning: node n2: stream of trace t: connection reset")
			for _, port := range []int{80, 443} {
				if err := emit([]any{types.Event{PktType: "OUTGOING", Proto: "tcp", IP: "10.0.0.9", Port: port}}); err != nil {
					return err
				}
			}
			<-ctx.Done()
			return nil
		},
	}
	done := make(chan error, 1)
	go func() { done <- serveUI(ctx, ln, src, io.Discard) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var warned, p80, p443 bool
	for sc.Scan() && !(warned && p80 && p443) {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, "node n2: stream of trace t: connection reset") {
			warned = true
		}
		if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"events":`) {
			p80 = p80 || strings.Contains(line, `"port":80`)
			p443 = p443 || strings.Contains(line, `"port":443`)
		}
	}
	if !warned || !p80 || !p443 {
		t.Fatalf("page got the warning: %v, port 80: %v, port 443: %v (%v)", warned, p80, p443, sc.Err())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serveUI: %v", err)
	}
}
