// Command kubectl-gadget is the kubectl plugin of gadget: installed on the
// PATH it runs as `kubectl gadget`. It deploys the node agent and drives
// gadgets through Trace resources, one per node:
//
//	kubectl gadget deploy [--image IMAGE]
//	kubectl gadget version [-o json] [--client]
//	kubectl gadget network-graph start -n demo [--node NODE]... [-l app=web]
//	kubectl gadget network-graph stream -o jsonl
//	kubectl gadget network-graph show -o table
//	kubectl gadget network-graph stop
//	kubectl gadget network-graph record --output graph.jsonl --duration 1m
//	kubectl gadget network-graph advise --input graph.jsonl
//	kubectl gadget undeploy
//
// deploy installs the gadgetd image of kubectl-gadget's own version
// (internal/version, stamped by make dist) unless --image names another.
// It takes the usual kubeconfig flags (--kubeconfig, --context, --server,
// ...). Unlike kubectl, -n/--namespace selects the pods to watch; the
// Trace resources live in --trace-namespace (default gadget).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is an error the user fixes by changing the command line.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode prints err and returns 0 without error, 2 for usage errors and
// 1 for the rest.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "kubectl gadget: %v\n", err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}
