package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/goplugin"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/plugincheck"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// pluginCmdOptions are the flags of "gadget plugin inspect|test".
type pluginCmdOptions struct {
	pluginDir string
	timeout   time.Duration
	gadget    string
	params    []string
}

// newPluginCmd returns "gadget plugin": tools for plugin authors.
func newPluginCmd(e env, g *globalFlags) *cobra.Command {
	var o pluginCmdOptions
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Inspect a plugin, or test that it keeps the plugin contract",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("name what to do: gadget plugin inspect|test PATH|NAME")
		},
	}
	inspect := &cobra.Command{
		Use:     "inspect PATH|NAME",
		Short:   "Load a plugin and print its manifest",
		Example: "  gadget plugin inspect bin/plugins/dot.wasm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withPlugin(cmd.Context(), e, g, o, args[0], func(p loaded) error {
				return writeManifest(e.stdout, p)
			})
		},
	}
	test := &cobra.Command{
		Use:   "test PATH|NAME",
		Short: "Run the plugin conformance checks against a plugin, one PASS or FAIL line per case",
		Long: "Load the plugin and check that it keeps the plugin contract of docs/plugins.md: its manifest,\n" +
			"its answers to ordinary and unusual batches of the gadget's events (--gadget: the batches the\n" +
			"gadget declares), an enricher keeping every event, the same answer twice and under concurrent\n" +
			"calls. Exits 1 when a case fails.",
		Example: "  gadget plugin test ./edgelist.wasm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			params, err := pluginOptions{params: o.params}.parameters()
			if err != nil {
				return err
			}
			return withPlugin(cmd.Context(), e, g, o, args[0], func(p loaded) error {
				co := plugincheck.Options{Gadget: o.gadget, Params: params[p.manifest().Name]}
				info, err := e.reg.Lookup(o.gadget)
				if err != nil {
					return usagef("--gadget %q: %v", o.gadget, err)
				}
				// The test batches are the gadget's own events.
				co.Samples, _ = plugincheck.SamplesOf(info)
				if support, ok := pipeline.SupportOf(info); ok {
					co.CheckEnriched = support.CheckEnriched
				}
				var results []plugincheck.Result
				if p.formatter != nil {
					results = plugincheck.Formatter(cmd.Context(), p.formatter, co)
				} else {
					results = plugincheck.Enricher(cmd.Context(), p.enricher, co)
				}
				failed := 0
				for _, r := range results {
					if r.Err != nil {
						failed++
						fmt.Fprintf(e.stdout, "FAIL  %s: %s\n", r.Name, oneLine(r.Err.Error()))
						continue
					}
					fmt.Fprintf(e.stdout, "PASS  %s\n", r.Name)
				}
				if failed > 0 {
					return runtimeError{fmt.Errorf("plugin %q: %d of %d cases failed", p.manifest().Name, failed, len(results))}
				}
				fmt.Fprintf(e.stdout, "ok    %s: %d cases passed\n", p.manifest().Name, len(results))
				return nil
			})
		},
	}
	for _, c := range []*cobra.Command{inspect, test} {
		f := c.Flags()
		f.StringVar(&o.pluginDir, "plugin-dir", "", "look up a NAME as `DIR`/NAME.wasm or DIR/NAME")
		f.DurationVar(&o.timeout, "plugin-timeout", 30*time.Second, "fail a plugin call that takes longer than this")
	}
	test.Flags().StringVar(&o.gadget, "gadget", pluginGadget(e.reg), "the gadget whose events the test batches hold (default: the first registered gadget that takes plugins)")
	test.Flags().StringArrayVar(&o.params, "plugin-param", nil, "give the plugin a parameter, `PLUGIN.KEY=VALUE`; repeatable")
	cmd.AddCommand(inspect, test)
	return cmd
}

// loaded is one plugin opened by gadget plugin: a formatter or an
// enricher.
type loaded struct {
	formatter plugin.Formatter
	enricher  plugin.Enricher
	host      string
}

func (p loaded) manifest() abi.Manifest {
	if p.formatter != nil {
		return p.formatter.Manifest()
	}
	return p.enricher.Manifest()
}

// withPlugin opens spec as a formatter or, if it is none, as an enricher,
// runs fn and closes it.
func withPlugin(ctx context.Context, e env, g *globalFlags, o pluginCmdOptions, spec string, fn func(loaded) error) error {
	level, err := parseLogLevel(g.logLevel)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	opts := loader.Options{
		PluginDir: o.pluginDir,
		Wasm:      wasm.Options{CacheDir: wasmCacheDir(), CallTimeout: o.timeout, Logger: logger},
		GoPlugin:  goplugin.Options{CallTimeout: o.timeout, Logger: logger},
	}
	// Built-in names are the formats of the gadget of --gadget (inspect:
	// of the first gadget that takes plugins).
	name := o.gadget
	if name == "" {
		name = pluginGadget(e.reg)
	}
	if info, err := e.reg.Lookup(name); err == nil {
		opts.Formatters = pipeline.Formatters(info)
	}
	host := "go-plugin"
	switch {
	case strings.HasSuffix(spec, ".wasm"):
		host = "wasm"
	case !strings.Contains(spec, "/"):
		host = "built-in or --plugin-dir"
	}
	set, err := loader.Load(ctx, spec, nil, opts)
	if errors.Is(err, plugin.ErrIncompatible) {
		// Not a formatter: perhaps an enricher.
		if s, err2 := loader.Load(ctx, "", []string{spec}, opts); err2 == nil {
			set, err = s, nil
		}
	}
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", spec, errors.Unwrap(err))}
	}
	defer set.CloseAll()
	p := loaded{formatter: set.Formatter, host: host}
	if len(set.Enrichers) > 0 {
		p.enricher = set.Enrichers[0]
	}
	return fn(p)
}

// writeManifest prints what gadget plugin inspect shows.
func writeManifest(w io.Writer, p loaded) error {
	m := p.manifest()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("name", m.Name)
	row("kind", string(m.Kind))
	row("contract version", fmt.Sprint(m.ContractVersion))
	row("host", p.host)
	if m.Kind == abi.KindFormatter {
		row("media type", m.MediaType)
		row("streaming", fmt.Sprint(m.Streaming))
	}
	gadgets := "any"
	if len(m.Gadgets) > 0 {
		gadgets = strings.Join(m.Gadgets, ", ")
	}
	row("gadgets", gadgets)
	params := "none declared"
	if len(m.Parameters) > 0 {
		var ps []string
		for _, p := range m.Parameters {
			ps = append(ps, p.Name+" ("+p.Description+")")
		}
		params = strings.Join(ps, "; ")
	}
	row("parameters", params)
	if m.Description != "" {
		row("description", m.Description)
	}
	return tw.Flush()
}

// pluginGadget is the first registered gadget that takes plugins, ""
// when none does.
func pluginGadget(reg *registry.Registry) string {
	if reg == nil {
		return ""
	}
	for _, info := range reg.All() {
		if _, ok := pipeline.SupportOf(info); ok {
			return info.Name
		}
	}
	return ""
}

// exampleGadget is the gadget named in examples: the first that takes
// plugins, else the first registered, else GADGET.
func exampleGadget(reg *registry.Registry) string {
	if name := pluginGadget(reg); name != "" {
		return name
	}
	if reg != nil {
		if names := reg.Names(); len(names) > 0 {
			return names[0]
		}
	}
	return "GADGET"
}

// oneLine joins the lines of s.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
