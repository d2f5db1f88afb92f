// Package browser starts a headless Chromium for the live view's tests,
// benchmark and screenshots, driven with chromedp. It never downloads a
// browser: it uses the one installed on the machine (Debian's chromium).
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// ErrNotFound is returned by Find when no Chromium is installed.
var ErrNotFound = errors.New("no Chromium found: install it (apt-get install chromium) or set $CHROMIUM to its path")

// candidates are the names Chromium and Chrome are installed under.
var candidates = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"}

// Find returns the path of the browser: $CHROMIUM when set, otherwise the
// first of chromium, chromium-browser, google-chrome… on $PATH.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Start runs the headless browser at path with a width × height window and
// returns a chromedp context for one tab; cancel closes the browser and
// waits for it. As root (tests, make targets) the sandbox is off: Chromium
// refuses to run its sandbox as root.
func Start(ctx context.Context, path string, width, height int) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx)
	return tctx, func() {
		cancelTab()
		cancelAlloc()
	}
}
