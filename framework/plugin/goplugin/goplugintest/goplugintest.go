// Package goplugintest puts the go-plugin host into the plugin conformance
// suite of framework/plugin/plugintest.
package goplugintest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/goplugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
)

// Host builds the conformance formatter and enricher as go-plugin
// binaries into a temporary directory and returns the host that opens
// them. Each opened plugin runs in its own process until closed.
func Host(tb testing.TB) plugintest.Host {
	tb.Helper()
	root := plugintest.ModuleRoot(tb)
	// Not tb.TempDir, whose parent is private: a root host runs the
	// plugins as nobody, who must reach them.
	dir, err := os.MkdirTemp("", "goplugintest-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	bins := map[string]string{}
	for _, kind := range []string{"formatter", "enricher"} {
		bins[kind] = filepath.Join(dir, kind)
		cmd := exec.Command("go", "build", "-o", bins[kind], "./framework/plugin/goplugin/testdata/conformance/"+kind)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("build the go-plugin conformance %s: %v\n%s", kind, err, out)
		}
	}
	return plugintest.Host{
		Name: "goplugin",
		Formatter: func(tb testing.TB) plugin.Formatter {
			f, err := goplugin.OpenFormatter(context.Background(), bins["formatter"], goplugin.Options{})
			if err != nil {
				tb.Fatal(err)
			}
			return f
		},
		Enricher: func(tb testing.TB) plugin.Enricher {
			e, err := goplugin.OpenEnricher(context.Background(), bins["enricher"], goplugin.Options{})
			if err != nil {
				tb.Fatal(err)
			}
			return e
		},
	}
}
