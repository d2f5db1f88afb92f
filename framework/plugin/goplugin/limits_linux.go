package goplugin

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// The plugin process is started through a launcher: the host's own
// executable (/proc/self/exe) run with argv[0] launcherName. Its init
// (below) sets the memory cap and CPU bound on itself and executes the
// plugin in its place, so the limits hold from the plugin's first
// instruction, and they need no privilege: a process may always lower
// its own limits, whereas prlimit(2) on a process of another user needs
// CAP_SYS_RESOURCE, which gadgetd does not hold. The launcher runs with
// the plugin's identity and environment already in place.
const launcherName = "gadget-plugin-launcher"

func init() {
	if len(os.Args) == 4 && os.Args[0] == launcherName {
		launch(os.Args[1], os.Args[2], os.Args[3])
	}
}

// launcherCommand returns the command that starts the plugin at path
// under the limits of opts.
func (h *host) launcherCommand() *exec.Cmd {
	memory, cpu := int64(0), int64(0)
	if h.opts.MemoryLimit > 0 {
		memory = h.opts.MemoryLimit
	}
	if h.opts.CPULimit > 0 {
		cpu = int64(cpuSeconds(h.opts.CPULimit).Seconds())
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{launcherName, strconv.FormatInt(memory, 10), strconv.FormatInt(cpu, 10), h.path}
	return cmd
}

// launch sets the limits (0: none) and executes the plugin at path; it
// returns only by exiting with status 126 and one line on stderr. A
// process past its CPU bound receives SIGXCPU, which Go programs ignore,
// and SIGKILL one second later.
func launch(memory, cpu, path string) {
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "gadget plugin launcher: %v\n", err)
		os.Exit(126)
	}
	if n, err := strconv.ParseUint(memory, 10, 64); err != nil {
		fail(fmt.Errorf("memory limit %q: %w", memory, err))
	} else if n > 0 {
		if err := syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fail(fmt.Errorf("set the memory limit: %w", err))
		}
	}
	if n, err := strconv.ParseUint(cpu, 10, 64); err != nil {
		fail(fmt.Errorf("CPU limit %q: %w", cpu, err))
	} else if n > 0 {
		if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &syscall.Rlimit{Cur: n, Max: n + 1}); err != nil {
			fail(fmt.Errorf("set the CPU time limit: %w", err))
		}
	}
	fail(fmt.Errorf("execute %s: %w", path, syscall.Exec(path, []string{path}, os.Environ())))
}
