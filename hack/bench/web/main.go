// Command web measures the live view in headless Chromium: the time to
// draw a first batch of N edges (layout included) and to apply each
// following batch (every edge's counters moving, a few new edges). It is
// a benchmark, not a test: it reports numbers and fails only when it
// cannot measure.
//
//	go run ./hack/bench/web -edges 2000 -updates 10
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"slices"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/web"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
	"github.com/gadgetkit/gadget/internal/browser"
)

type timings struct {
	FirstLayoutMs float64 `json:"firstLayoutMs"`
	FirstFrameMs  float64 `json:"firstFrameMs"`
	LastUpdateMs  float64 `json:"lastUpdateMs"`
	LastFrameMs   float64 `json:"lastFrameMs"`
	Updates       int     `json:"updates"`
	Frames        int     `json:"frames"`
	LayoutMs      float64 `json:"layoutMs"`
	TableMs       float64 `json:"tableMs"`
	Tables        int     `json:"tables"`
}

func main() {
	edges := flag.Int("edges", 2000, "edges in the first batch")
	updates := flag.Int("updates", 10, "batches after the first")
	fresh := flag.Int("new", 20, "new edges (to new external endpoints) in each later batch")
	flag.Parse()
	if err := run(*edges, *updates, *fresh); err != nil {
		log.SetFlags(0)
		log.Fatalf("bench web: %v", err)
	}
}

// graph makes n edges: 200 pods in 10 namespaces, each edge from one pod
// to another pod or (one in four) to one of 100 external addresses.
func graph(n int) []types.Event {
	out := make([]types.Event, n)
	now := time.Now().UTC()
	for i := range out {
		c := i % 200
		e := types.Event{
			Event:   eventtypes.Event{Node: "bench", Namespace: fmt.Sprintf("ns-%d", c%10), Pod: fmt.Sprintf("pod-%d", c)},
			PktType: types.PktTypeOutgoing, Proto: "tcp", Port: 1000 + i,
			Packets: 10, Bytes: uint64(1000 * (1 + i%50)), FirstSeen: now, LastSeen: now,
		}
		if i%4 == 0 {
			e.IP, e.RemoteKind, e.RemoteOther = fmt.Sprintf("203.0.113.%d", i%100), types.RemoteKindOther, fmt.Sprintf("203.0.113.%d", i%100)
		} else {
			s := (i*7 + 1) % 200
			e.IP, e.RemoteKind = fmt.Sprintf("10.1.%d.%d", s/100, s%100), types.RemoteKindPod
			e.RemotePodNamespace, e.RemotePodName = fmt.Sprintf("ns-%d", s%10), fmt.Sprintf("pod-%d", s)
		}
		out[i] = e
	}
	return out
}

func run(n, updates, fresh int) error {
	path, err := browser.Find()
	if err != nil {
		return err
	}
	srv, err := web.New(web.Config{Gadget: "network-graph", Source: "benchmark", Interval: 2 * time.Second})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, ln) }()

	bctx, closeBrowser := browser.Start(ctx, path, 1400, 1000)
	defer closeBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
		return fmt.Errorf("open the page: %w", err)
	}
	// wait waits in the page for cond (JavaScript over t, the view's
	// timings): polling from here would cost the browser more CPU than
	// what is measured.
	wait := func(cond string) (timings, error) {
		deadline, cancel := context.WithTimeout(bctx, 2*time.Minute)
		defer cancel()
		return chromedp.Run(deadline, chromedp.Evaluate[timings](
			`new Promise((resolve) => { const check = () => { const t = gadgetView.timings; if (`+cond+`) resolve(t); else setTimeout(check, 20); }; check(); })`,
			chromedp.EvalAwaitPromise))
	}

	base := graph(n)
	if err := srv.Publish(base); err != nil {
		return err
	}
	first, err := wait("t.frames >= 1")
	if err != nil {
		return fmt.Errorf("first layout: %w", err)
	}
	firstTable, err := wait("t.tables === undefined || t.tables >= 1")
	if err != nil {
		return fmt.Errorf("first table: %w", err)
	}
	var script, frame, table []float64
	for u := range updates {
		batch := slices.Clone(base)
		for i := range batch {
			batch[i].Bytes = uint64(100 * (1 + (i+u)%30))
			batch[i].Packets = 2
		}
		for j := range fresh {
			k := n + u*fresh + j
			ip := fmt.Sprintf("198.51.%d.%d", k/250, k%250)
			batch = append(batch, types.Event{
				Event:   eventtypes.Event{Node: "bench", Namespace: fmt.Sprintf("ns-%d", k%10), Pod: fmt.Sprintf("pod-%d", k%200)},
				PktType: types.PktTypeOutgoing, Proto: "udp", IP: ip, Port: 53, RemoteKind: types.RemoteKindOther, RemoteOther: ip, Packets: 1, Bytes: 80,
			})
		}
		if err := srv.Publish(batch); err != nil {
			return err
		}
		// The batch is applied (updates), then drawn (frames: the first
		// batch had one).
		t, err := wait(fmt.Sprintf("t.updates >= %d && t.frames >= %d && (t.tables === undefined || t.tables >= %d)", u+1, u+2, u+2))
		if err != nil {
			snap, _ := chromedp.Run(bctx, chromedp.Evaluate[any](`[gadgetView.snapshot(), gadgetView.timings, document.getElementById('status').textContent]`))
			return fmt.Errorf("update %d: %w (page: %v)", u+1, err, snap)
		}
		script = append(script, t.LastUpdateMs)
		table = append(table, t.TableMs)
		frame = append(frame, t.LastFrameMs)
	}
	slices.Sort(script)
	slices.Sort(frame)
	slices.Sort(table)
	median := func(v []float64) float64 { return v[len(v)/2] }
	fmt.Fprintf(os.Stdout, "web view, %d edges (%s):\n", n, path)
	fmt.Fprintf(os.Stdout, "  first batch: %.0f ms script (%.0f ms of it the layout), graph drawn at %.0f ms (target ≤ 2000 ms), table at %.0f ms\n",
		first.FirstLayoutMs, first.LayoutMs, first.FirstFrameMs, firstTable.TableMs)
	fmt.Fprintf(os.Stdout, "  update (%d edges' counters + %d new edges), %d batches: median %.0f ms script, graph drawn at %.0f ms (target ≤ 200 ms; worst %.0f ms), table at %.0f ms\n",
		n, fresh, updates, median(script), median(frame), frame[len(frame)-1], median(table))
	return nil
}
