// Package sdk is the root of gadget's plugin SDK module. It holds no code:
// the plugin contract is package abi, the Go guest for WASM plugins is
// package wasm, and the go-plugin SDK is the separate module goplugin,
// nested here so that WASM plugins never depend on gRPC.
package sdk
