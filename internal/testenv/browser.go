package testenv

import (
	"os"
	"testing"

	"github.com/gadgetkit/gadget/internal/browser"
)

// RequireChromium returns the path of the headless browser for a test that
// drives the live view; without one the test is skipped, and under
// CI=true it fails (CI installs Debian's chromium).
func RequireChromium(t testing.TB) string {
	t.Helper()
	p, err := browser.Find()
	if err != nil {
		v, reason := decide(0, os.Getenv("CI"), false, err.Error())
		apply(t, v, reason)
	}
	return p
}
