// Package chain builds the plugin pipeline of a trace from what its gadget
// declares: the gadget's Support (its formats as built-in formatters, how
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

// Support is what a gadget offers the plugin pipeline. A gadget that takes
// plugins puts a *Support in its gadget.Info.Extensions.
type Support struct {
	// Formatters returns the gadget's output formats as built-in
	// formatter plugins, fresh on every call.
	Formatters func() []plugin.Formatter
	// Fallback is the built-in format that renders what a formatter
	// failed to, and the agent's formatter when a Trace names enrichers
	// only, e.g. "json".
	Fallback string
	// Final, NewMerger, Messages and CheckEnriched are the pipeline's
	// (pipeline.Config).
	Final         func(events []byte) ([]byte, error)
	NewMerger     func() pipeline.Merger
	Messages      func(events []byte, w io.Writer) error
	CheckEnriched func(in, out []byte) error
	// CheckEvent checks one recorded event for gadget format, naming a
	// field of the wrong type.
	CheckEvent func(event []byte) error
}

// GadgetExtension implements gadget.Extension.
func (*Support) GadgetExtension() string { return "plugins" }

// Of returns the plugin support info declares, and whether it declares
// any.
func Of(info *gadget.Info) (*Support, bool) {
	for _, x := range info.Extensions {
		if s, ok := x.(*Support); ok {
			return s, true
		}
	}
	return nil, false
}

// Formatters returns the built-in formatters of info, none when it takes
// no plugins.
func Formatters(info *gadget.Info) []plugin.Formatter {
	if s, ok := Of(info); ok && s.Formatters != nil {
		return s.Formatters()
	}
	return nil
}

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
// info. A gadget that declares no Support takes no plugins beyond opts'.
func Load(ctx context.Context, info *gadget.Info, formatter string, enrichers []string, opts loader.Options) (*Chain, error) {
	support, _ := Of(info)
	if support == nil {
		support = &Support{}
	}
	opts.Formatters = Formatters(info)
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
		Gadget:        info.Name,
		Enrichers:     set.Enrichers,
		Formatter:     set.Formatter,
		Fallback:      fallback,
		Final:         support.Final,
		NewMerger:     support.NewMerger,
		Messages:      support.Messages,
		CheckEnriched: support.CheckEnriched,
		Close:         set.Close,
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
