// Command gadgetd is the node agent: it runs on every node (a DaemonSet
// with hostPID, in a network namespace of its own, with CAP_SYS_ADMIN and
// CAP_SYS_PTRACE: see docs/kubernetes.md), reconciles the Trace resources
// whose spec.node is its node, and runs their gadgets on the pods of the
// node that match spec.filter.
//
// Usage:
//
//	gadgetd --node-name NODE [--kubeconfig FILE] [--metrics-bind-address ADDR]
//	        [--health-probe-bind-address ADDR] [--stream-bind-address ADDR]
//	        [--plugin-dir DIR] [--traffic-metrics] [--traffic-metrics-limit N]
//	        [--kernel-memory-budget auto|SIZE] [--max-traces N] [--stream-bytes SIZE]
//	        [--stream-max-readers N] [--stream-write-timeout DURATION]
//	        [--log-level LEVEL]
//	gadgetd --version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errVersion) {
			fmt.Fprintln(os.Stderr, "gadgetd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for a usage error (and --help, 0), 1 otherwise.
func exitCode(err error) int {
	var u usageError
	switch {
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errVersion):
		return 0
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// usageError is an error the user fixes by changing the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run parses args and runs the agent until ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, o, stderr)
}
