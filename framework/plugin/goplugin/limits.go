package goplugin

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// deathCause describes how a plugin process ended, from its exit state
// and the last line it wrote to stderr; overLimit is true when it ran
// out of its memory cap or CPU bound.
func (h *host) deathCause(ps *os.ProcessState, stderr string) (how string, overLimit bool) {
	cpu := ps.UserTime() + ps.SystemTime()
	ws, _ := ps.Sys().(syscall.WaitStatus)
	switch {
	case h.opts.CPULimit > 0 && ws.Signaled() && (ws.Signal() == syscall.SIGXCPU || ws.Signal() == syscall.SIGKILL) &&
		cpu >= cpuSeconds(h.opts.CPULimit)-time.Second/2:
		return fmt.Sprintf("plugin process exceeded its CPU time limit of %s (used %s; raise it with --plugin-cpu)",
			cpuSeconds(h.opts.CPULimit), cpu.Round(time.Millisecond)), true
	case h.opts.MemoryLimit > 0 && strings.Contains(stderr, "out of memory"):
		return fmt.Sprintf("plugin process exceeded its memory limit of %s (raise it with --plugin-memory)", FormatBytes(h.opts.MemoryLimit)), true
	}
	how = fmt.Sprintf("plugin process died (%s)", ps)
	if stderr != "" {
		how += fmt.Sprintf("; its stderr: %q", stderr)
	}
	return how, false
}

// cpuSeconds is d rounded up to whole seconds, as RLIMIT_CPU counts.
func cpuSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// FormatBytes writes n bytes as the flags take them, e.g. "512MiB".
func FormatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.suffix)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// lastLine keeps the last non-empty line written to it and the first
// line of a Go panic or fatal error, which a traceback follows.
type lastLine struct {
	mu    sync.Mutex
	line  string
	fatal string
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range strings.Split(string(p), "\n") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if len(s) > 300 {
			s = s[:300] + "…"
		}
		l.line = s
		if l.fatal == "" && (strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")) {
			l.fatal = s
		}
	}
	return len(p), nil
}

// String returns the first line of a panic or fatal error, or else the
// last line.
func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fatal != "" {
		return l.fatal
	}
	return l.line
}
