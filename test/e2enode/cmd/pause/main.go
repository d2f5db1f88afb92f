// Command pause is the pod sandbox ("pause") image of the real-node
// end-to-end test (make e2e-node): it holds the pod's namespaces, reaps the
// children it inherits as the pod's PID 1, and exits on SIGTERM or SIGINT.
// A cluster normally pulls such an image; the test machine reaches no image
// registry, so hack/e2e-node.sh builds this one and imports it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
