// Command kubectl-hello prints its version and image repository: the dist
// test's tiny plugin.
package main

import (
	"fmt"

	"github.com/gadgetkit/gadget/internal/version"
)

func main() { fmt.Println(version.Get(), version.ImageRepo) }
