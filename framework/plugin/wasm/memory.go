package wasm

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator gives every instance a memory reserved at its cap and
// never copied: growing it only lengthens the slice. On Linux the memory
// is an anonymous mapping (memory_linux.go): a page costs RSS only once
// the guest touches it, and closing the instance unmaps it. wazero's own
// allocation at the cap (WithMemoryCapacityFromMax) is a Go slice that the
// Go runtime clears when it reuses heap — about 150 ms for a 256 MiB cap,
// on every instantiation after the first — and that stays in the Go heap
// after the instance closes.
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(
	func(_, max uint64) experimental.LinearMemory {
		if m := mapMemory(max); m != nil {
			return m
		}
		return &heapMemory{buf: make([]byte, 0, max)}
	})

// heapMemory is the fallback: a Go slice of the cap.
type heapMemory struct{ buf []byte }

// Reallocate returns the first size bytes, or nil past the cap (the
// guest's memory.grow then fails).
func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > uint64(cap(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

func (m *heapMemory) Free() { m.buf = nil }
