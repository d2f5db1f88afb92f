package networkgraph

import (
	"sync"

	"github.com/cilium/ebpf/btf"
)

// kernelBTF shares the running kernel's decoded BTF between the traces of
// one gadget while any of them runs (ngbpf.Options.KernelBTF): decoding it
// costs each trace start about 40 ms, keeping it about 3.4 MiB, which the
// last trace to stop gives back.
type kernelBTF struct {
	mu    sync.Mutex
	users int
	cache *btf.Cache
}

// acquire returns the shared cache; the caller releases it when it stops.
func (k *kernelBTF) acquire() *btf.Cache {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cache == nil {
		k.cache = btf.NewCache()
	}
	k.users++
	return k.cache
}

// release drops the cache once no trace uses it.
func (k *kernelBTF) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.users--; k.users == 0 {
		k.cache = nil
	}
}
