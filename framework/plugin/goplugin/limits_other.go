//go:build !linux

package goplugin

// limit does nothing outside Linux: the limits need prlimit(2).
func (h *host) limit(int) error { return nil }
