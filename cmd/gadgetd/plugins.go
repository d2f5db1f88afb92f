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
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
	"github.com/gadgetkit/gadget/gadgets/networkgraph"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
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
		if info.Name != networkgraph.Name {
			return nil, nil, fmt.Errorf("%s, %s: gadget %s takes no plugins", loader.ParamFormatter, loader.ParamEnrichers, info.Name)
		}
		if formatter == "" {
			formatter = format.JSON
		}
		opts := loader.Options{
			PluginDir:  dir,
			NamesOnly:  true,
			Wasm:       wasm.Options{CacheDir: cacheDir},
			Privileged: privileged,
			Metrics:    set,
		}
		load := func(ctx context.Context) (*loader.Set, error) {
			o := opts
			o.Formatters = format.Plugins()
			return loader.Load(ctx, formatter, enrichers, o)
		}
		// Resolve the names now, so that a wrong one is an operation error
		// on the Trace rather than a failure at start.
		ctx, cancel := context.WithTimeout(context.Background(), pluginCheckTimeout)
		defer cancel()
		set, err := load(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w (plugins are looked up by name in the agent's --plugin-dir %s)", err, dirOrNone(dir))
		}
		set.CloseAll()

		newOutput := func(ctx context.Context, w, errw io.Writer) (gadget.Output, error) {
			set, err := load(ctx)
			if err != nil {
				return nil, err
			}
			var fallback plugin.Formatter
			for _, f := range format.Plugins() {
				if f.Manifest().Name == format.JSON {
					fallback = f
				}
			}
			out, err := pipeline.New(ctx, pipeline.Config{
				Gadget:    info.Name,
				Enrichers: set.Enrichers,
				Formatter: set.Formatter,
				Fallback:  fallback,
				Final:     format.FinalGraph,
				NewMerger: format.NewMerger,
				Messages:  format.WriteMessages,
				Stdout:    w,
				Stderr:    errw,
				Close:     set.Close,
			})
			if err != nil {
				set.CloseAll()
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
