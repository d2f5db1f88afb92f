// Package chain builds the plugin pipeline of a trace from what its gadget
// declares: the gadget's pipeline.Support (its formats as built-in formatters, how
// its batches merge into the final result, how enrichers' results are
// checked) and the plugins a user names. The local CLI (gadget run,
// gadget format, gadget plugin) and the node agent (a Trace's
// spec.parameters) both build their pipelines here.
package chain

import (
	"context"
	"fmt"
	"io"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
)

// Chain is the loaded plugins of one trace and the configuration of the
// pipeline that runs them. It owns the plugins until Pipeline hands them
// to the pipeline.
type Chain struct {
	set    *loader.Set
	cfg    pipeline.Config
	handed bool
}

// Load loads the formatter and the enrichers named (each a built-in
// format of info, a name looked up in opts.PluginDir, a .wasm file or a
// go-plugin executable) for a trace of info. opts.Formatters is set from
// info. A gadget that declares no pipeline.Support takes no plugins beyond opts'.
func Load(ctx context.Context, info *gadget.Info, formatter string, enrichers []string, opts loader.Options) (*Chain, error) {
	support, _ := pipeline.SupportOf(info)
	if support == nil {
		support = &pipeline.Support{}
	}
	opts.Formatters = pipeline.Formatters(info)
	set, err := loader.Load(ctx, formatter, enrichers, opts)
	if err != nil {
		return nil, err
	}
	var fallback plugin.Formatter
	for _, f := range opts.Formatters {
		if support.Fallback != "" && f.Manifest().Name == support.Fallback {
			fallback = f
		}
	}
	return &Chain{set: set, cfg: pipeline.Config{
		Gadget:         info.Name,
		Enrichers:      set.Enrichers,
		Formatter:      set.Formatter,
		Fallback:       fallback,
		Final:          support.Final,
		NewMerger:      support.NewMerger,
		Messages:       support.Messages,
		MessagesValues: support.MessagesValues,
		CheckEnriched:  support.CheckEnriched,
		Decode:         support.Decode,
		// An enricher's result, once decoded, is judged as Go values.
		CheckEnrichedValues: support.CheckEnrichedValues,
		Close:               set.Close,
	}}, nil
}

// Formatter is the chain's formatter.
func (c *Chain) Formatter() plugin.Formatter { return c.set.Formatter }

// Enrichers are the chain's enrichers, in order.
func (c *Chain) Enrichers() []plugin.Enricher { return c.set.Enrichers }

// Pipeline returns the pipeline running the chain, writing to stdout and
// stderr with the plugins' parameters params (by plugin name). The
// pipeline then owns the plugins; call it at most once.
func (c *Chain) Pipeline(ctx context.Context, params map[string]map[string]string, stdout, stderr io.Writer) (*pipeline.Pipeline, error) {
	if c.handed {
		return nil, fmt.Errorf("chain of gadget %s: the pipeline is already built", c.cfg.Gadget)
	}
	cfg := c.cfg
	cfg.Params, cfg.Stdout, cfg.Stderr = params, stdout, stderr
	p, err := pipeline.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.handed = true
	return p, nil
}

// Close closes the plugins unless a pipeline owns them.
func (c *Chain) Close() {
	if c.handed {
		return
	}
	c.handed = true
	c.set.CloseAll()
}
