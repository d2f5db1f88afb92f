package goplugin

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// limit sets the memory cap and CPU bound of Options on the process pid.
// A process past its CPU bound receives SIGXCPU, which Go programs ignore,
// and SIGKILL one second later.
func (h *host) limit(pid int) error {
	if h.opts.MemoryLimit > 0 {
		lim := unix.Rlimit{Cur: uint64(h.opts.MemoryLimit), Max: uint64(h.opts.MemoryLimit)}
		if err := unix.Prlimit(pid, unix.RLIMIT_DATA, &lim, nil); err != nil {
			return fmt.Errorf("set the memory limit of process %d: %w", pid, err)
		}
	}
	if h.opts.CPULimit > 0 {
		secs := uint64(cpuSeconds(h.opts.CPULimit).Seconds())
		lim := unix.Rlimit{Cur: secs, Max: secs + 1}
		if err := unix.Prlimit(pid, unix.RLIMIT_CPU, &lim, nil); err != nil {
			return fmt.Errorf("set the CPU time limit of process %d: %w", pid, err)
		}
	}
	return nil
}
