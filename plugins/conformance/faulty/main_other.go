//go:build !wasip1

package main

// main does nothing outside WASM: the plugin's exports are WASM only.
func main() {}
