//go:build wasip1

package wasm

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// buffers keeps the memory handed to the host reachable: requests between
// gadget_alloc and gadget_call, the last manifest or response until the
// next call. spare is the buffer of the last request, handed out again by
// the next gadget_alloc that fits: a batch is large, and allocating (and
// zeroing) it anew for every call costs time and garbage collections.
var buffers struct {
	pending map[uintptr][]byte
	spare   []byte
	out     []byte
}

// gadgetManifest returns the JSON manifest as ptr<<32|len.
//
//go:wasmexport gadget_manifest
func gadgetManifest() uint64 {
	return pack(registered.manifest)
}

// gadgetAlloc returns a buffer of size bytes for the host to write a
// request into; it stays valid until gadget_call consumes it.
//
//go:wasmexport gadget_alloc
func gadgetAlloc(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	var b []byte
	if cap(buffers.spare) >= int(size) {
		b, buffers.spare = buffers.spare[:size], nil
	} else {
		b = make([]byte, size)
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	if buffers.pending == nil {
		buffers.pending = map[uintptr][]byte{}
	}
	buffers.pending[p] = b
	return uint32(p)
}

// gadgetCall handles the JSON request at ptr/size and returns the
// response as ptr<<32|len, valid until the next call into the module: a
// formatter's output raw when the host offers it (Request.RawData), else
// JSON.
//
//go:wasmexport gadget_call
func gadgetCall(ptr, size uint32) uint64 {
	buf, ok := buffers.pending[uintptr(ptr)]
	delete(buffers.pending, uintptr(ptr))
	var resp abi.Response
	raw := false
	switch {
	case !ok || int(size) > len(buf):
		resp.Error = fmt.Sprintf("gadget_call: %d bytes at %#x were not allocated by gadget_alloc", size, ptr)
	case registered.handler == nil:
		resp.Error = "no handler registered: call wasm.Formatter or wasm.Enricher from an init function"
	default:
		resp, raw = handle(buf[:size])
	}
	buffers.out = appendResult(buffers.out[:0], resp, raw)
	// Let the garbage collector's worker finish a cycle the handler
	// started: within an export nothing else yields to it, and a stalled
	// cycle lets the heap grow until the instance runs out of memory.
	runtime.Gosched()
	if ok && (buffers.spare == nil || cap(buf) > cap(buffers.spare)) {
		// The response was copied out of buf: it may serve the next
		// request.
		buffers.spare = buf[:0]
	}
	return pack(buffers.out)
}

// handle decodes a request and runs the registered handler; raw tells
// that the response may go raw (a formatter's, to a host offering it).
func handle(in []byte) (resp abi.Response, raw bool) {
	req, err := decodeRequest(in)
	if err != nil {
		return abi.Response{Error: "decode the request: " + err.Error()}, false
	}
	if req.ContractVersion != abi.ContractVersion {
		return abi.Response{Error: fmt.Sprintf("contract version %d: this plugin speaks %d", req.ContractVersion, abi.ContractVersion)}, false
	}
	data, err := registered.handler(req)
	if err != nil {
		return abi.Response{Error: err.Error()}, false
	}
	if registered.kind == abi.KindEnricher {
		return abi.Response{Batch: data}, false
	}
	if data == nil {
		data = []byte{}
	}
	return abi.Response{Data: data}, req.RawData
}

func pack(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

// yield lets the garbage collector's worker run; see gadgetCall.
func yield() { runtime.Gosched() }
