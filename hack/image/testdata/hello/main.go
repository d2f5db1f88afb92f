// Command hello prints its version: the image test's tiny workload.
package main

import (
	"fmt"

	"github.com/gadgetkit/gadget/internal/version"
)

func main() { fmt.Println("hello", version.Get()) }
