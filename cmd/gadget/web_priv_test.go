package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gadgetkit/gadget/internal/browser"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// lockedBuffer is a bytes.Buffer safe for the CLI writing and the test
// reading at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWebViewPrivileged runs network-graph with --web over three netns
// "pods" with real traffic and reads the live page in headless Chromium:
// every pod and edge is drawn and listed, a connection opened after the
// page loaded shows up within two batches, the filters hide what they
// should, and the exported SVG is well-formed XML.
func TestWebViewPrivileged(t *testing.T) {
	testenv.RequirePrivileged(t)
	chromium := testenv.RequireChromium(t)
	client, api, db := testenv.NewNetns(t, "web-client"), testenv.NewNetns(t, "web-api"), testenv.NewNetns(t, "web-db")
	front := testenv.Link(t, client, api) // client A, api B
	back := testenv.Link(t, api, db)      // api A, db B
	httpAddr := net.JoinHostPort(front.B4.String(), "8080")
	dnsAddr := net.JoinHostPort(back.B4.String(), "53")
	pgAddr := net.JoinHostPort(back.B4.String(), "5432")
	api.TCPEchoServer(t, httpAddr)
	db.UDPEchoServer(t, dnsAddr)
	db.TCPEchoServer(t, pgAddr)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Steady traffic: client → api tcp/8080 and api → db udp/53.
	var traffic sync.WaitGroup
	defer traffic.Wait()
	defer cancel()
	traffic.Go(func() {
		for ctx.Err() == nil {
			exchange(client, "tcp", httpAddr)
			exchange(api, "udp", dnsAddr)
			time.Sleep(100 * time.Millisecond)
		}
	})

	e := defaultEnv()
	var stderr lockedBuffer
	e.stdout, e.stderr = io.Discard, &stderr
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, []string{"run", "network-graph", "--netns", client.Name(), "--netns", api.Name(), "--netns", db.Name(),
			"--interval", "500ms", "--web", "127.0.0.1:0", "-o", "jsonl"}, e)
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("gadget run --web: exit code %d\n%s", code, stderr.String())
		}
	}()
	url := waitURL(t, &stderr, done)

	bctx, closeBrowser := browser.Start(ctx, chromium, 1280, 900)
	defer closeBrowser()
	// The first action starts the browser: no timeout on its context.
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	bctx, cancelB := context.WithTimeout(bctx, 60*time.Second)
	defer cancelB()

	// The observations, by types.Event.Key (no namespace on one machine).
	key := func(ns *testenv.Netns, dir, proto string, ip net.IP, port int) string {
		return fmt.Sprintf("/%s/%s/%s/%s/%d", ns.Name(), dir, proto, ip, port)
	}
	want := []string{
		key(client, "OUTGOING", "tcp", front.B4.AsSlice(), 8080),
		key(api, "HOST", "tcp", front.A4.AsSlice(), 8080),
		key(api, "OUTGOING", "udp", back.B4.AsSlice(), 53),
		key(db, "HOST", "udp", back.A4.AsSlice(), 53),
	}
	for _, k := range want {
		waitJS(t, bctx, fmt.Sprintf(`document.querySelector('#edges-body tr[data-key=%q]') !== null`, k), "table row "+k)
	}
	snap := evalJS[viewSnapshot](t, bctx, `gadgetView.snapshot()`)
	// Both ends of an edge are watched: the two observations are one edge.
	if snap.Edges != 2 || snap.Endpoints != 3 || snap.VisibleEdges != 2 {
		t.Errorf("graph = %+v, want 2 edges between 3 pods, all visible", snap)
	}
	nodes := evalJS[[]string](t, bctx, `[...document.querySelectorAll('#edges-body tr')].map(r => r.children[1].textContent)`)
	for _, ns := range []*testenv.Netns{client, api, db} {
		if !strings.Contains(strings.Join(nodes, " "), ns.Name()) {
			t.Errorf("pod %s is in no row of the table: %q", ns.Name(), nodes)
		}
	}

	// A connection opened now shows up within two batches.
	before := snap.Batches
	exchange(api, "tcp", pgAddr)
	late := key(api, "OUTGOING", "tcp", back.B4.AsSlice(), 5432)
	waitJS(t, bctx, fmt.Sprintf(`document.querySelector('#edges-body tr[data-key=%q]') !== null`, late), "the late connection's row")
	snap = evalJS[viewSnapshot](t, bctx, `gadgetView.snapshot()`)
	if n := snap.Batches - before; n > 2 {
		t.Errorf("the connection opened after the page loaded took %d batches to show, want ≤ 2", n)
	}
	if snap.Edges != 3 {
		t.Errorf("%d edges after the late connection, want 3", snap.Edges)
	}

	// Filters: udp leaves api → db udp/53; port 8080 leaves client → api.
	setControl(t, bctx, "f-proto", "udp")
	rows := evalJS[[]string](t, bctx, `[...document.querySelectorAll('#edges-body tr')].map(r => r.dataset.key)`)
	snap = evalJS[viewSnapshot](t, bctx, `gadgetView.snapshot()`)
	if snap.VisibleEdges != 1 || len(rows) != 2 || !strings.Contains(rows[0]+rows[1], "/udp/") || strings.Contains(strings.Join(rows, " "), "/tcp/") {
		t.Errorf("protocol filter udp: %d visible edges, rows %q; want 1 edge and its 2 udp observations", snap.VisibleEdges, rows)
	}
	setControl(t, bctx, "f-proto", "")
	setControl(t, bctx, "f-port", "8080")
	snap = evalJS[viewSnapshot](t, bctx, `gadgetView.snapshot()`)
	rows = evalJS[[]string](t, bctx, `[...document.querySelectorAll('#edges-body tr')].map(r => r.dataset.key)`)
	if snap.VisibleEdges != 1 || len(rows) != 2 || strings.Contains(strings.Join(rows, " "), "/udp/") {
		t.Errorf("port filter 8080: %d visible edges, rows %q; want 1 edge and its 2 tcp observations", snap.VisibleEdges, rows)
	}
	// The pod filter, typed as a user does.
	setControl(t, bctx, "f-port", "")
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#f-pod"), "web-db")); err != nil {
		t.Fatal(err)
	}
	snap = evalJS[viewSnapshot](t, bctx, `gadgetView.snapshot()`)
	if snap.VisibleEdges != 2 { // api → db udp/53 and tcp/5432
		t.Errorf("pod filter web-db: %d visible edges, want the 2 edges to db", snap.VisibleEdges)
	}

	// The exported SVG (of what is visible) is XML with those two arrows.
	svg := evalJS[string](t, bctx, `gadgetView.exportSVG()`)
	edges, labels := parseSVG(t, svg)
	if edges != 2 || !strings.Contains(labels, db.Name()) || !strings.Contains(labels, api.Name()) || strings.Contains(labels, client.Name()) {
		t.Errorf("SVG: %d edges, labels %q; want the 2 edges between %s and %s", edges, labels, api.Name(), db.Name())
	}
}

type viewSnapshot struct {
	Batches      int  `json:"batches"`
	Edges        int  `json:"edges"`
	Endpoints    int  `json:"endpoints"`
	VisibleEdges int  `json:"visibleEdges"`
	Warnings     int  `json:"warnings"`
	LayoutDone   bool `json:"layoutDone"`
}

// exchange opens a connection (or sends a datagram) to addr from inside ns
// and waits for the echo; errors only mean no edge, which the test sees.
func exchange(ns *testenv.Netns, network, addr string) {
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.DialTimeout(network, addr, time.Second)
		return err
	}); err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ping")); err == nil {
		_, _ = io.ReadFull(c, make([]byte, 4))
	}
}

var urlLine = regexp.MustCompile(`live view: (http://\S+)`)

// waitURL returns the page's address once gadget run prints it.
func waitURL(t *testing.T, stderr *lockedBuffer, done chan int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := urlLine.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("gadget run ended (exit %d) before serving the page:\n%s", code, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("gadget run printed no 'live view:' address in 30s:\n%s", stderr.String())
	return ""
}

func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS polls the boolean expression js until it holds; the browser
// context's deadline bounds the wait.
func waitJS(t *testing.T, ctx context.Context, js, what string) {
	t.Helper()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setControl sets a filter control as the user does and fires its change.
func setControl(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %q; el.dispatchEvent(new Event('change')); return true })()`, id, value)
	evalJS[bool](t, ctx, js)
}

// parseSVG decodes the whole document and returns its edge count and the
// text of its labels.
func parseSVG(t *testing.T, svg string) (edges int, labels string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("exported SVG is not XML: %v\n%s", err, svg)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			for _, a := range el.Attr {
				if el.Name.Local == "g" && a.Name.Local == "class" && a.Value == "edge" {
					edges++
				}
			}
		case xml.CharData:
			text.Write(el)
			text.WriteByte(' ')
		}
	}
	if root != "svg" {
		t.Errorf("exported SVG's root element is %q, want svg", root)
	}
	return edges, text.String()
}
