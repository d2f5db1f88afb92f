//go:build !wasip1

package wasm

// yield does nothing outside WASM, where the garbage collector has threads
// of its own.
func yield() {}
