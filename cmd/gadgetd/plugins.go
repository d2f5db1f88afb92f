package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/gadgetkit/gadget/framework/controller"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/plugin/chain"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// tracePlugins returns the controller's plugin hook: a Trace's
// spec.parameters.formatter and spec.parameters.enrichers (names only,
// looked up among the gadget's built-in formats and in dir) render its
// Status output. cacheDir keeps compiled WASM modules across runs; the
// go-plugins named in privileged keep the agent's privileges; set counts
// the plugins' calls.
func tracePlugins(dir, cacheDir string, privileged []string, set *metrics.Set) func(*gadget.Info, map[string]string) (map[string]string, controller.PluginOutput, error) {
	return func(info *gadget.Info, params map[string]string) (map[string]string, controller.PluginOutput, error) {
		formatter, enrichers, err := loader.FromParameters(params)
		if err != nil {
			return nil, nil, err
		}
		rest := maps.Clone(params)
		delete(rest, loader.ParamFormatter)
		delete(rest, loader.ParamEnrichers)
		if formatter == "" && len(enrichers) == 0 {
			return rest, nil, nil
		}
		support, ok := pipeline.SupportOf(info)
		if !ok {
			return nil, nil, fmt.Errorf("%s, %s: gadget %s takes no plugins", loader.ParamFormatter, loader.ParamEnrichers, info.Name)
		}
		if formatter == "" {
			formatter = support.Fallback
		}
		opts := loader.Options{
			PluginDir:  dir,
			NamesOnly:  true,
			Wasm:       wasm.Options{CacheDir: cacheDir},
			Privileged: privileged,
			Metrics:    set,
		}
		// Resolve the names now, so that a wrong one is an operation error
		// on the Trace rather than a failure at start.
		ctx, cancel := context.WithTimeout(context.Background(), pluginCheckTimeout)
		defer cancel()
		c, err := chain.Load(ctx, info, formatter, enrichers, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (plugins are looked up by name in the agent's --plugin-dir %s)", err, dirOrNone(dir))
		}
		c.Close()

		newOutput := func(ctx context.Context, w, errw io.Writer) (gadget.Output, error) {
			c, err := chain.Load(ctx, info, formatter, enrichers, opts)
			if err != nil {
				return nil, err
			}
			out, err := c.Pipeline(ctx, nil, w, errw)
			if err != nil {
				c.Close()
				return nil, err
			}
			return out, nil
		}
		return rest, newOutput, nil
	}
}

// pluginCheckTimeout bounds resolving a Trace's plugins.
const pluginCheckTimeout = 30 * time.Second

func dirOrNone(dir string) string {
	if dir == "" {
		return "(none set)"
	}
	return dir
}

// defaultWasmCache is where the agent keeps compiled WASM modules.
func defaultWasmCache() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "gadget", "wazero")
	}
	return ""
}
