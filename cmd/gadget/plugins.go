package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/goplugin"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
	"github.com/gadgetkit/gadget/gadgets/networkgraph"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
)

// pluginSupport is what a gadget offers the plugin pipeline: its formats
// as built-in formatters, how its batches merge into the final result and
// how the warnings of a batch are shown.
type pluginSupport struct {
	formatters func() []plugin.Formatter
	final      func(events []byte) ([]byte, error)
	messages   func(events []byte, w io.Writer) error
}

// gadgetPlugins returns the plugin support of the gadget called name.
func gadgetPlugins(name string) (pluginSupport, bool) {
	switch name {
	case networkgraph.Name:
		return pluginSupport{formatters: format.Plugins, final: format.FinalGraph, messages: format.WriteMessages}, true
	}
	return pluginSupport{}, false
}

// pluginOptions are the plugin flags of "gadget run <gadget>".
type pluginOptions struct {
	formatter     string
	enrichers     []string
	pluginDir     string
	params        []string
	pluginTimeout time.Duration
}

func (o pluginOptions) used() bool { return o.formatter != "" || len(o.enrichers) > 0 }

// parameters parses --plugin-param NAME.KEY=VALUE flags.
func (o pluginOptions) parameters() (map[string]map[string]string, error) {
	params := map[string]map[string]string{}
	for _, p := range o.params {
		key, value, ok := strings.Cut(p, "=")
		name, k, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || name == "" || k == "" {
			return nil, usagef("--plugin-param %q: want PLUGIN.KEY=VALUE, e.g. --plugin-param portnames.ports=8080/tcp=web", p)
		}
		if params[name] == nil {
			params[name] = map[string]string{}
		}
		params[name][k] = value
	}
	return params, nil
}

// pluginSet is the plugins of one run, loaded before the trace starts (a
// WASM module may take seconds to compile) and handed to the output
// pipeline once the trace is under way.
type pluginSet struct {
	set    *loader.Set
	cfg    pipeline.Config
	handed bool
}

// loadPlugins loads the plugins the flags name. --formatter overrides
// --output; without it the --output format is the formatter, as a
// built-in plugin. Its errors are usageErrors.
func loadPlugins(ctx context.Context, e env, info *gadget.Info, o runOptions) (*pluginSet, error) {
	params, err := o.plugins.parameters()
	if err != nil {
		return nil, err
	}
	support, ok := pluginSupport{}, false
	if e.plugins != nil {
		support, ok = e.plugins(info.Name)
	}
	if !ok {
		support = pluginSupport{formatters: func() []plugin.Formatter { return nil }}
	}
	spec := o.plugins.formatter
	if spec == "" {
		spec = o.output
	}
	opts := loader.Options{
		Formatters: support.formatters(),
		PluginDir:  o.plugins.pluginDir,
		Wasm:       wasm.Options{CacheDir: wasmCacheDir(), CallTimeout: o.plugins.pluginTimeout},
		GoPlugin: goplugin.Options{CallTimeout: o.plugins.pluginTimeout,
			// A go-plugin's own messages and stderr, at the run's log level.
			Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: logLevelOr(o.logLevel)}))},
	}
	set, err := loader.Load(ctx, spec, o.plugins.enrichers, opts)
	if err != nil {
		return nil, usageError{err}
	}
	var fallback plugin.Formatter
	for _, f := range opts.Formatters {
		if f.Manifest().Name == "json" {
			fallback = f
		}
	}
	return &pluginSet{set: set, cfg: pipeline.Config{
		Gadget:    info.Name,
		Enrichers: set.Enrichers,
		Formatter: set.Formatter,
		Params:    params,
		Fallback:  fallback,
		Final:     support.final,
		Messages:  support.messages,
		Stdout:    e.stdout,
		Stderr:    e.stderr,
		Close:     set.Close,
	}}, nil
}

// output returns the pipeline running the plugins, which then owns them.
func (p *pluginSet) output(ctx context.Context) (gadget.Output, error) {
	out, err := pipeline.New(ctx, p.cfg)
	if err != nil {
		return nil, usageError{err}
	}
	p.handed = true
	return out, nil
}

// release closes the plugins unless a pipeline owns them.
func (p *pluginSet) release() {
	if p.handed {
		return
	}
	p.handed = true
	p.set.CloseAll()
}

// wasmCacheDir is where compiled WASM plugins are cached across runs, or
// "" when the user has no cache directory.
// logLevelOr is the level of --log-level, or warn when it does not parse
// (validate reports that).
func logLevelOr(s string) slog.Level {
	if l, err := parseLogLevel(s); err == nil {
		return l
	}
	return slog.LevelWarn
}

func wasmCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "gadget", "wazero")
}

// addFlags adds the plugin flags to f.
func (o *pluginOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.formatter, "formatter", "", "format the output with the plugin `NAME|PATH.wasm|PATH` (a built-in format, a file of --plugin-dir, a WASM module or a go-plugin executable); overrides --output")
	f.StringArrayVar(&o.enrichers, "enricher", nil, "run every batch through the enricher `NAME|PATH.wasm|PATH`; repeatable, in order")
	f.StringVar(&o.pluginDir, "plugin-dir", "", "look up plugin names not built in as `DIR`/NAME.wasm or DIR/NAME")
	f.StringArrayVar(&o.params, "plugin-param", nil, "give a plugin a parameter, `PLUGIN.KEY=VALUE`; repeatable")
	f.DurationVar(&o.pluginTimeout, "plugin-timeout", 30*time.Second, "fail a plugin call that takes longer than this")
}

// newFormatCmd returns "gadget format <gadget>": recorded events through
// the plugins, to try a formatter or an enricher without tracing.
func newFormatCmd(e env) *cobra.Command {
	var o runOptions
	var input string
	cmd := &cobra.Command{
		Use:   "format <gadget> --input FILE [flags]",
		Short: "Run recorded events through plugins, without tracing",
		Long: "Read the events of a gadget recorded with 'gadget run -o json' (a JSON array) or '-o jsonl'\n" +
			"(one event per line) as one batch, run it through the --enricher plugins and print it\n" +
			"with the --formatter plugin (or the --output format). Needs no root: use it to try a plugin.",
		Example: "  gadget format network-graph --input graph.json --formatter bin/plugins/dot.wasm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := formatEvents(cmd.Context(), e, args[0], input, o)
			if err != nil && !errors.As(err, new(usageError)) {
				return runtimeError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", "", "read the events from `FILE` (- for standard input is not supported: give a file)")
	f.StringVarP(&o.output, "output", "o", "json", "built-in output format, when --formatter is not given")
	o.plugins.addFlags(f)
	return cmd
}

// formatEvents runs the events of the file input through the plugins of o.
func formatEvents(ctx context.Context, e env, name, input string, o runOptions) error {
	info, err := e.reg.Lookup(name)
	if err != nil {
		return usageError{err}
	}
	if input == "" {
		return usagef("--input: name the file of recorded events, e.g. --input graph.json")
	}
	data, err := os.ReadFile(input)
	if err != nil {
		return usagef("--input %s: %v", input, err)
	}
	batch, err := eventsOf(data)
	if err != nil {
		return usagef("--input %s: %v", input, err)
	}
	plugins, err := loadPlugins(ctx, e, info, o)
	if err != nil {
		return err
	}
	defer plugins.release()
	out, err := plugins.output(ctx)
	if err != nil {
		return err
	}
	return errors.Join(out.Batch(batch), out.Close())
}

// eventsOf returns recorded events as one JSON array: data is a JSON
// array already, or JSON lines of one event each.
func eventsOf(data []byte) (json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		if !json.Valid(data) {
			return nil, errors.New("not a valid JSON array of events")
		}
		return data, nil
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) || line[0] != '{' {
			return nil, fmt.Errorf("line %d: not a JSON object: want a JSON array or one event per line", i+1)
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(line)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}
