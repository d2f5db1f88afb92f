// Package names is the record of the DNS names the watched pods of one
// trace resolved (gadget.Names): a gadget that watches DNS writes it, one
// that shows remote addresses reads it. It imports only the standard
// library and framework/gadget.
package names

import (
	"net/netip"
	"sync"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
)

// DefaultMax bounds a Table made with New(0): about 100 bytes per entry.
const DefaultMax = 65536

// Table implements gadget.Names in memory, for one trace. It keeps at most
// its max entries, one per pod and address: the latest name wins, and a new
// entry in a full table replaces one whose TTL has run out or, failing
// that, an arbitrary one. Expired entries are kept (Lookup reports them as
// stale) until they are replaced.
type Table struct {
	mu      sync.Mutex
	max     int
	entries map[key]entry
}

var _ gadget.Names = (*Table)(nil)

type key struct {
	target string
	addr   netip.Addr
}

type entry struct {
	name    string
	expires time.Time
}

// New returns an empty table of at most max entries (DefaultMax when max
// is 0 or less).
func New(max int) *Table {
	if max <= 0 {
		max = DefaultMax
	}
	return &Table{max: max, entries: map[key]entry{}}
}

// Observe records that the pod of target resolved name to addr at time
// at, valid for ttl.
func (t *Table) Observe(target, name string, addr netip.Addr, ttl time.Duration, at time.Time) {
	k := key{target, addr.Unmap()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[k]; !ok && len(t.entries) >= t.max {
		t.evictLocked(at)
	}
	t.entries[k] = entry{name: name, expires: at.Add(ttl)}
}

// evictLocked removes one entry, an expired one if it finds one among the
// first few it looks at.
func (t *Table) evictLocked(now time.Time) {
	const look = 16
	var victim key
	n := 0
	for k, e := range t.entries {
		if n == 0 || now.After(e.expires) {
			victim = k
		}
		n++
		if now.After(e.expires) || n == look {
			break
		}
	}
	delete(t.entries, victim)
}

// Lookup returns the name the pod of target last resolved to addr, and
// whether its TTL had run out at time at.
func (t *Table) Lookup(target string, addr netip.Addr, at time.Time) (name string, stale, ok bool) {
	t.mu.Lock()
	e, ok := t.entries[key{target, addr.Unmap()}]
	t.mu.Unlock()
	if !ok {
		return "", false, false
	}
	return e.name, at.After(e.expires), true
}

// Len returns the number of entries.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
