package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin/chain"
	"github.com/gadgetkit/gadget/framework/plugin/goplugin"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
	"github.com/gadgetkit/gadget/framework/recording"
)

// pluginOptions are the plugin flags of "gadget run <gadget>".
type pluginOptions struct {
	formatter     string
	enrichers     []string
	pluginDir     string
	params        []string
	pluginTimeout time.Duration
	memory        string        // --plugin-memory, e.g. 1GiB; 0 for no cap
	cpu           time.Duration // --plugin-cpu; 0 for no bound
	errors        string        // --plugin-errors: fail or warn
	privileged    []string      // --plugin-privileged: go-plugins that keep root
}

// Plugin failure policies of --plugin-errors.
const (
	pluginErrorsFail = "fail"
	pluginErrorsWarn = "warn"
)

// validate checks the plugin flags that need no plugin loaded.
func (o pluginOptions) validate() error {
	if _, err := parseBytes(o.memory); err != nil {
		return usagef("--plugin-memory %q: %v; e.g. --plugin-memory 512MiB, or 0 for no cap", o.memory, err)
	}
	if o.cpu < 0 {
		return usagef("--plugin-cpu %v: must not be negative; e.g. --plugin-cpu 30m, or 0 for no bound", o.cpu)
	}
	if o.errors != pluginErrorsFail && o.errors != pluginErrorsWarn {
		return usagef("--plugin-errors %q: use fail (exit status 3 when a plugin call failed) or warn (exit status 0)", o.errors)
	}
	if _, err := o.parameters(); err != nil {
		return err
	}
	return nil
}

// parseBytes parses a size such as 512MiB, 1GiB, 64KiB or 1048576 (bytes).
func parseBytes(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.size
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("not a size in bytes with an optional KiB, MiB or GiB")
	}
	return n * mult, nil
}

// checkParams fails when a --plugin-param names a plugin that is not in
// the run's chain: a misspelled name would otherwise be ignored.
func checkParams(params map[string]map[string]string, c *chain.Chain) error {
	names := map[string]bool{}
	var run []string
	if f := c.Formatter(); f != nil {
		n := f.Manifest().Name
		names[n] = true
		run = append(run, "formatter "+strconv.Quote(n))
	}
	for _, e := range c.Enrichers() {
		n := e.Manifest().Name
		names[n] = true
		run = append(run, "enricher "+strconv.Quote(n))
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if !names[name] {
			for k := range params[name] {
				return usagef("--plugin-param %s.%s: no plugin %q in this run (%s); fix the plugin name or drop the flag",
					name, k, name, strings.Join(run, ", "))
			}
		}
	}
	return nil
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
	chain  *chain.Chain
	params map[string]map[string]string
	stdout io.Writer
	stderr io.Writer
	pipe   *pipeline.Pipeline
	policy string // --plugin-errors
}

// loadPlugins loads the plugins the flags name. --formatter overrides
// --output; without it the --output format is the formatter, as a
// built-in plugin. Its errors are usageErrors.
func loadPlugins(ctx context.Context, e env, info *gadget.Info, o runOptions) (*pluginSet, error) {
	if err := o.plugins.validate(); err != nil {
		return nil, err
	}
	params, _ := o.plugins.parameters()
	memory, _ := parseBytes(o.plugins.memory)
	if memory == 0 {
		memory = -1 // no cap
	}
	cpu := o.plugins.cpu
	if cpu == 0 {
		cpu = -1 // no bound
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: logLevelOr(o.logLevel)}))
	spec := o.plugins.formatter
	if spec == "" {
		spec = o.output
	}
	opts := loader.Options{
		PluginDir: o.plugins.pluginDir,
		// The hosts log at the run's log level: a go-plugin's own messages
		// and stderr, a failed WASM call's stderr (a panic's stack) at debug.
		Wasm: wasm.Options{CacheDir: wasmCacheDir(), CallTimeout: o.plugins.pluginTimeout, Logger: logger},
		GoPlugin: goplugin.Options{CallTimeout: o.plugins.pluginTimeout, Logger: logger,
			MemoryLimit: memory, CPULimit: cpu},
		Privileged: o.plugins.privileged,
		Metrics:    o.metrics.set,
	}
	c, err := chain.Load(ctx, info, spec, o.plugins.enrichers, opts)
	if err != nil {
		return nil, usageError{err}
	}
	if err := checkParams(params, c); err != nil {
		c.Close()
		return nil, err
	}
	return &pluginSet{chain: c, params: params, stdout: e.stdout, stderr: e.stderr, policy: o.plugins.errors}, nil
}

// output returns the pipeline running the plugins, which then owns them.
func (p *pluginSet) output(ctx context.Context) (gadget.Output, error) {
	out, err := p.chain.Pipeline(ctx, p.params, p.stdout, p.stderr)
	if err != nil {
		return nil, usageError{err}
	}
	p.pipe = out
	return out, nil
}

// failed returns a pluginFailedError when plugin calls failed during the
// run and --plugin-errors is fail; call it once the output is closed.
func (p *pluginSet) failed() error {
	if p == nil || p.pipe == nil || p.policy == pluginErrorsWarn {
		return nil
	}
	if n := p.pipe.Failures(); n > 0 {
		return pluginFailedError{n}
	}
	return nil
}

// release closes the plugins unless a pipeline owns them.
func (p *pluginSet) release() { p.chain.Close() }

// logLevelOr is the level of --log-level, or warn when it does not parse
// (validate reports that).
func logLevelOr(s string) slog.Level {
	if l, err := parseLogLevel(s); err == nil {
		return l
	}
	return slog.LevelWarn
}

// wasmCacheDir is where compiled WASM plugins are cached across runs, or
// "" when the user has no cache directory.
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
	f.StringVar(&o.memory, "plugin-memory", goplugin.FormatBytes(goplugin.DefaultMemoryLimit), "cap the data memory of each go-plugin process (RLIMIT_DATA), e.g. 512MiB; 0 for no cap")
	f.DurationVar(&o.cpu, "plugin-cpu", goplugin.DefaultCPULimit, "bound the CPU time of each go-plugin process over its life (RLIMIT_CPU); 0 for no bound")
	f.StringArrayVar(&o.privileged, "plugin-privileged", nil, "let the go-plugin `NAME|PATH` keep gadget's user and capabilities when gadget runs as root; repeatable. "+
		"Every other go-plugin then runs as nobody (65534) without capabilities, with no_new_privs and an empty environment")
	f.StringVar(&o.errors, "plugin-errors", pluginErrorsFail, "when a plugin call failed (its batch skipped the enricher or was written as JSON): fail exits with status 3, warn with 0")
}

// formatBatchBytes is the size of the batches gadget format cuts its
// input into: each goes through the plugins as one call.
const formatBatchBytes = 1 << 20

// newFormatCmd returns "gadget format <gadget>": recorded events through
// the plugins, to try a formatter or an enricher without tracing.
func newFormatCmd(e env, g *globalFlags) *cobra.Command {
	var o runOptions
	var input string
	cmd := &cobra.Command{
		Use:   "format <gadget> --input FILE [flags]",
		Short: "Run recorded events through plugins, without tracing",
		Long: "Read the events of a gadget recorded with 'gadget run -o json' (a JSON array) or '-o jsonl'\n" +
			"(one event per line), run them through the --enricher plugins in batches of about 1 MiB and\n" +
			"print them with the --formatter plugin (or the --output format). The input is streamed:\n" +
			"memory follows the number of unique edges, not the size of the file. An event that is not\n" +
			"valid JSON or has a field of the wrong type ends the command with exit status 2, naming its\n" +
			"line. Needs no root: use it to try a plugin.",
		Example: "  gadget format " + exampleGadget(e.reg) + " --input graph.json --formatter bin/plugins/dot.wasm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.logLevel = g.logLevel
			if _, err := parseLogLevel(o.logLevel); err != nil {
				return err
			}
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

// formatEvents runs the events of the file input through the plugins of
// o, streaming: it reads one batch of about formatBatchBytes at a time.
// An input that turns out bad half way aborts the pipeline, so no final
// result of part of it is printed.
func formatEvents(ctx context.Context, e env, name, input string, o runOptions) error {
	info, err := e.reg.Lookup(name)
	if err != nil {
		return usageError{err}
	}
	if input == "" {
		return usagef("--input: name the file of recorded events, e.g. --input graph.json")
	}
	file, err := os.Open(input)
	if err != nil {
		return usagef("--input %s: %v", input, errors.Unwrap(err))
	}
	defer file.Close()
	if st, err := file.Stat(); err == nil && st.IsDir() {
		return usagef("--input %s: is a directory: name a file of recorded events", input)
	}
	var check func([]byte) error
	if support, ok := pipeline.SupportOf(info); ok {
		check = support.CheckEvent
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
	var batch []byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b := append(batch, ']')
		// A fresh buffer for the next batch: the pipeline may keep this one.
		batch = nil
		return out.Batch(json.RawMessage(b))
	}
	var writeErr error
	readErr := recording.Read(file, func(_ int, event []byte) error {
		if check != nil {
			if err := check(event); err != nil {
				return err
			}
		}
		if len(batch) == 0 {
			batch = make([]byte, 0, formatBatchBytes+len(event)+2)
			batch = append(batch, '[')
		} else {
			batch = append(batch, ',')
		}
		batch = append(batch, event...)
		if len(batch) >= formatBatchBytes {
			if writeErr = flush(); writeErr != nil {
				return writeErr
			}
		}
		return nil
	})
	if readErr == nil {
		readErr = flush()
		writeErr = readErr
	}
	if readErr != nil {
		abortErr := plugins.pipe.Abort()
		if writeErr != nil {
			return errors.Join(writeErr, abortErr)
		}
		return usageError{fmt.Errorf("--input %s: %w", input, readErr)}
	}
	if err := out.Close(); err != nil {
		return err
	}
	return plugins.failed()
}
