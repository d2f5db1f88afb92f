package wasm

import "testing"

// TestMemoryAllocator checks that a guest's memory grows in place up to
// its cap, never past it, and starts zeroed.
func TestMemoryAllocator(t *testing.T) {
	const page, max = 64 << 10, 16 * (64 << 10)
	m := memoryAllocator.Allocate(page, max)
	defer m.Free()
	b := m.Reallocate(page)
	if len(b) != page {
		t.Fatalf("Reallocate(%d) = %d bytes", page, len(b))
	}
	b[0], b[page-1] = 1, 2
	grown := m.Reallocate(max)
	if len(grown) != max || &grown[0] != &b[0] {
		t.Fatalf("Reallocate(%d) = %d bytes, moved: %v; want the same memory, longer", max, len(grown), &grown[0] != &b[0])
	}
	if grown[0] != 1 || grown[page-1] != 2 || grown[page] != 0 || grown[max-1] != 0 {
		t.Error("growing lost what was written or did not start zeroed")
	}
	if m.Reallocate(max+page) != nil {
		t.Error("Reallocate past the cap returned memory")
	}
}
