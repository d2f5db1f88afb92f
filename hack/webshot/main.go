// Command webshot saves a screenshot of a running live view (gadget run
// --web) once its graph has settled: make docs-screenshots runs it on the
// demo (hack/demo.sh) to write docs/images/network-graph-web.png.
//
//	go run ./hack/webshot -url http://127.0.0.1:8099/ -edges 4 -out shot.png
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gadgetkit/gadget/internal/browser"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8099/", "address of the live view")
	out := flag.String("out", "network-graph-web.png", "PNG file to write")
	edges := flag.Int("edges", 1, "wait until the graph has at least this many edges")
	batches := flag.Int("batches", 3, "and at least this many batches")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*url, *out, *edges, *batches, *timeout); err != nil {
		log.Fatalf("webshot: %v", err)
	}
}

type snapshot struct {
	Batches    int  `json:"batches"`
	Edges      int  `json:"edges"`
	LayoutDone bool `json:"layoutDone"`
}

func run(url, out string, edges, batches int, timeout time.Duration) error {
	path, err := browser.Find()
	if err != nil {
		return err
	}
	ctx, closeBrowser := browser.Start(context.Background(), path, 1280, 860)
	defer closeBrowser()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("open %s: %w", url, err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s, err := chromedp.Run(tctx, chromedp.Evaluate[snapshot](`gadgetView.snapshot()`))
		if err != nil {
			return fmt.Errorf("wait for %d edges: %w", edges, err)
		}
		if s.LayoutDone && s.Edges >= edges && s.Batches >= batches {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Re-run the layout on the whole graph, then show an edge's details
	// as a user clicking it would.
	js := `(() => { document.getElementById('relayout').click(); const cy = gadgetView.cy; const e = cy.edges().max(e => e.data('w')).ele; if (e) { e.select(); e.emit('tap'); } return true })()`
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](js)); err != nil {
		return err
	}
	png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	fmt.Printf("webshot: wrote %s (%d bytes)\n", out, len(png))
	return nil
}
