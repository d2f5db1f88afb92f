package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the trace failed while running
	exitUsage   = 2 // the command line is wrong or cannot be carried out
	exitPlugin  = 3 // a plugin call failed; the output is complete through the fallbacks
)

// env is everything the CLI takes from the process, so that tests can run
// it without root, network namespaces or signals of their own.
type env struct {
	reg      *registry.Registry
	stdout   io.Writer
	stderr   io.Writer
	euid     func() int
	hostname func() (string, error)
	// resolve, resolveNamed and watch are containers.Resolve,
	// containers.ResolveNamed and containers.WatchNamed; resolve's errors
	// wrapping containers.ErrBadTarget are the user's.
	resolve      func(ctx context.Context, node string, sel containers.Selector) ([]gadget.Target, error)
	resolveNamed func(ctx context.Context, node string, sel containers.Selector) ([]gadget.Target, error)
	watch        func(ctx context.Context, interval time.Duration, resolve, named func(context.Context) ([]gadget.Target, error),
		add func(gadget.Target), remove func(id string)) error
	// signals stop a run cleanly.
	signals []os.Signal
}

func defaultEnv() env {
	return env{
		reg:          registry.Default,
		stdout:       os.Stdout,
		stderr:       os.Stderr,
		euid:         os.Geteuid,
		hostname:     os.Hostname,
		resolve:      containers.Resolve,
		resolveNamed: containers.ResolveNamed,
		watch:        containers.WatchNamed,
		signals:      []os.Signal{os.Interrupt, syscall.SIGTERM},
	}
}

// usageError is an error in the command line or in what it asks for: the
// user fixes it by changing the command.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// pluginFailedError ends a run in which plugin calls failed (each was
// reported on stderr as it happened) under --plugin-errors=fail.
type pluginFailedError struct{ calls int }

func (e pluginFailedError) Error() string {
	return fmt.Sprintf("%d plugin call(s) failed (see the error lines above); their batches went on without the enricher or were written as JSON; --plugin-errors=warn exits 0", e.calls)
}

// runtimeError is a failure of a well-formed command.
type runtimeError struct{ err error }

func (e runtimeError) Error() string { return e.err.Error() }
func (e runtimeError) Unwrap() error { return e.err }

// execute runs the command line args and returns the exit code. Every
// error is printed as one line on stderr.
func execute(ctx context.Context, args []string, e env) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if strings.HasPrefix(msg, "unknown command") {
		msg += " (see 'gadget --help')"
	}
	fmt.Fprintf(e.stderr, "gadget: %s\n", msg)
	if errors.As(err, new(pluginFailedError)) {
		return exitPlugin
	}
	if errors.As(err, new(runtimeError)) {
		return exitFailure
	}
	return exitUsage
}

// globalFlags are the flags every command takes.
type globalFlags struct {
	logLevel string
}

func newRootCmd(e env) *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:   "gadget",
		Short: "Run gadgets locally: trace what pods and processes do on this machine",
		Long: "gadget runs the gadgets of the gadget framework on this machine, without Kubernetes.\n" +
			"Network namespaces (ip netns) and processes stand in for pods.",
		SilenceErrors:      true,
		SilenceUsage:       true,
		DisableSuggestions: true,
		CompletionOptions:  cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(newListCmd(e), newRunCmd(e, &g), newFormatCmd(e, &g), newPluginCmd(e, &g))
	return root
}

func newListCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the registered gadgets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
			for _, info := range e.reg.All() {
				fmt.Fprintf(tw, "%s\t%s\n", info.Name, info.Description)
			}
			if err := tw.Flush(); err != nil {
				return runtimeError{fmt.Errorf("list: %w", err)}
			}
			return nil
		},
	}
}

func newRunCmd(e env, g *globalFlags) *cobra.Command {
	run := &cobra.Command{
		Use:   "run <gadget> [flags]",
		Short: "Run a gadget on this machine until Ctrl-C or --duration",
		Long: "Run a gadget on this machine. Select what it watches with --netns, --pid or --all;\n" +
			"it runs until Ctrl-C, SIGTERM or --duration, then prints its result.\n" +
			"Tracing needs root.",
		RunE: func(cmd *cobra.Command, args []string) error {
			names := strings.Join(e.reg.Names(), ", ")
			if len(args) == 0 {
				return usagef("name the gadget to run: gadget run <gadget>, one of: %s", names)
			}
			return usagef("unknown gadget %q: use one of: %s ('gadget list' describes them)", args[0], names)
		},
	}
	for _, info := range e.reg.All() {
		run.AddCommand(newGadgetCmd(e, g, info))
	}
	return run
}

// newGadgetCmd returns "gadget run <name>" for one registered gadget.
func newGadgetCmd(e env, g *globalFlags, info *gadget.Info) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   info.Name,
		Short: firstSentence(info.Description),
		Long:  info.Description,
		Args:  cobra.NoArgs,
		Example: fmt.Sprintf("  sudo gadget run %s --netns frontend --netns api --duration 10s\n"+
			"  sudo gadget run %s --all -o json > graph.json", info.Name, info.Name),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.logLevel = g.logLevel
			err := runGadget(cmd.Context(), e, info, o)
			if err != nil && !errors.As(err, new(usageError)) {
				return runtimeError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.netns, "netns", nil, "watch the network namespace `NAME` (see 'ip netns list'); repeatable")
	f.IntSliceVar(&o.pids, "pid", nil, "watch the network namespace of process `N`; repeatable")
	f.BoolVar(&o.all, "all", false, "watch every network namespace of this machine, following them as they come and go")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long, e.g. 10s; 0 runs until Ctrl-C")
	f.DurationVar(&o.interval, "interval", 2*time.Second, "how often the gadget delivers a batch")
	f.StringArrayVar(&o.params, "param", nil, fmt.Sprintf("set the gadget parameter `KEY=VALUE` (see docs/gadgets/%s.md), e.g. max-edges=4096; repeatable", info.Name))
	if len(info.Formats) > 0 {
		f.StringVarP(&o.output, "output", "o", info.Formats[0], "output format: "+strings.Join(info.Formats, ", "))
	} else {
		f.StringVarP(&o.output, "output", "o", "jsonl", "output format: jsonl")
	}
	f.StringVar(&o.web, "web", "", "serve a live view of the trace at `ADDR` (HOST:PORT, e.g. 127.0.0.1:8099) while it runs; see docs/web.md")
	o.plugins.addFlags(f)
	o.metrics.addFlags(f)
	return cmd
}

// firstSentence returns s up to and including its first full stop.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// parseLogLevel turns a --log-level value into a slog level.
func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		if err := l.UnmarshalText([]byte(s)); err == nil {
			return l, nil
		}
	}
	return 0, usagef("--log-level %q: use debug, info, warn or error", s)
}
