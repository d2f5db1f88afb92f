// Command gadget is the local command line of the gadget framework: it
// lists the registered gadgets and runs one of them on this machine,
// without Kubernetes, against network namespaces or processes.
//
//	gadget list
//	sudo gadget run GADGET --netns frontend --netns api --duration 10s
//
// Exit codes: 0 on success, 1 when the trace fails, 2 when the command
// line is wrong or cannot be carried out as given (flag values, no target,
// a --netns or --pid that does not exist, is malformed or may not be
// opened, a missing or bad --input file, not root), 3 when a plugin call
// failed (unless --plugin-errors=warn).
package main

import (
	"context"
	"os"

	// Gadgets register themselves; this is where the CLI learns of them.
	_ "github.com/gadgetkit/gadget/gadgets/all"
)

func main() {
	os.Exit(execute(context.Background(), os.Args[1:], defaultEnv()))
}
