//go:build wasip1

// Command faulty is a formatter that misbehaves on request, for the fault
// tests of the WASM host. It speaks the raw ABI of docs/plugins.md itself,
// without the SDK, so that it can also answer garbage. The parameter
// "mode" picks the fault: panic, loop, oom, garbage, outside, oversized
// (the size in bytes in "size"), exit, sandbox (reports what it can see);
// and the forms of a response: raw (the raw response of the parameter
// "data"), raw-oversized (a raw one of "size" bytes), empty (a buffer of
// no bytes), rawdata (JSON data saying whether the request set rawData);
// anything else formats "ok".
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// keep holds the buffers handed to the host.
var keep = map[uint32][]byte{}

var out []byte

func pack(b []byte) uint64 {
	out = b
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

//go:wasmexport gadget_manifest
func manifest() uint64 {
	b, _ := json.Marshal(abi.Manifest{Name: "faulty", Kind: abi.KindFormatter, ContractVersion: abi.ContractVersion, MediaType: "text/plain"})
	return pack(b)
}

//go:wasmexport gadget_alloc
func alloc(size uint32) uint32 {
	b := make([]byte, size+1)
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	keep[p] = b
	return p
}

// sink keeps the allocations of the oom mode reachable.
var sink [][]byte

//go:wasmexport gadget_call
func call(ptr, size uint32) uint64 {
	var req abi.Request
	_ = json.Unmarshal(keep[ptr][:size], &req)
	delete(keep, ptr)
	switch req.Parameters["mode"] {
	case "panic":
		panic("faulty plugin: asked to panic")
	case "loop":
		for n := 0; ; n++ {
			if n < 0 {
				break
			}
		}
	case "oom":
		for {
			sink = append(sink, make([]byte, 16<<20))
		}
	case "garbage":
		return pack([]byte("this is not JSON"))
	case "outside":
		return 0xfffffff0<<32 | 64
	case "oversized":
		n, _ := strconv.Atoi(req.Parameters["size"])
		b, _ := json.Marshal(abi.Response{Data: make([]byte, n)})
		return pack(b)
	case "raw":
		return pack(append([]byte{abi.RawDataMark}, req.Parameters["data"]...))
	case "raw-oversized":
		n, _ := strconv.Atoi(req.Parameters["size"])
		return pack(append([]byte{abi.RawDataMark}, make([]byte, n)...))
	case "empty":
		return uint64(uintptr(unsafe.Pointer(&keep))) << 32
	case "rawdata":
		b, _ := json.Marshal(abi.Response{Data: fmt.Appendf(nil, "rawData=%t\n", req.RawData)})
		return pack(b)
	case "exit":
		os.Exit(3)
	case "sandbox":
		_, ferr := os.ReadFile("/etc/hostname")
		_, derr := os.ReadDir("/")
		b, _ := json.Marshal(abi.Response{Data: fmt.Appendf(nil, "file=%v dir=%v env=%d args=%d year=%d\n",
			ferr != nil, derr != nil, len(os.Environ()), len(os.Args), time.Now().Year())})
		return pack(b)
	}
	b, _ := json.Marshal(abi.Response{Data: []byte("ok\n")})
	return pack(b)
}

func main() {}
