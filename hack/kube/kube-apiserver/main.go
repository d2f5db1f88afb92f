// Command kube-apiserver is the upstream Kubernetes API server, built from Go
// modules for the envtest tests and the real-node end-to-end test.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
