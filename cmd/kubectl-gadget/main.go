// Command kubectl-gadget is the kubectl plugin of gadget: installed on the
// PATH it runs as `kubectl gadget`. It deploys the node agent and drives
// gadgets through Trace resources, one per node:
//
//	kubectl gadget deploy [--image IMAGE]
//	kubectl gadget version [-o json] [--client]
//	kubectl gadget GADGET start -n demo [--node NODE]... [-l app=web] [--param KEY=VALUE]...
//	kubectl gadget GADGET stream -o jsonl
//	kubectl gadget GADGET show -o table
//	kubectl gadget GADGET stop
//	kubectl gadget GADGET record --output events.jsonl --duration 1m
//	kubectl gadget GADGET advise --input events.jsonl
//	kubectl gadget undeploy
//
// There is one GADGET command per gadget declared in gadgets/declared,
// built from its declaration (framework/gadget.Info): its parameters with
// Flag set become flags of start, its formats the values of -o, and advise
// exists when it declares Advice. kubectl-gadget links no tracer.
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

	// Every gadget's declaration, for the gadget commands.
	_ "github.com/gadgetkit/gadget/gadgets/declared"
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
