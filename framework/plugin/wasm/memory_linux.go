package wasm

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mapMemory reserves max bytes of anonymous memory, not counted against
// the machine's commit limit (MAP_NORESERVE), or returns nil when the
// kernel refuses.
func mapMemory(max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	mem, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &mapping{mem: mem}
}

// mapping is one instance's memory.
type mapping struct{ mem []byte }

// Reallocate returns the first size bytes of the mapping, or nil past its
// end (the guest's memory.grow then fails).
func (m *mapping) Reallocate(size uint64) []byte {
	if m.mem == nil || size > uint64(len(m.mem)) {
		return nil
	}
	return m.mem[:size]
}

// Free unmaps the memory.
func (m *mapping) Free() {
	if m.mem != nil {
		_ = syscall.Munmap(m.mem)
		m.mem = nil
	}
}
