// Package testenv gives the repository's tests what they need from the
// machine: a check that privileged tests may run, and network namespaces
// linked by veth pairs to send real traffic between.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
)

// RequirePrivileged must be the first line of a test that needs root and
// network namespaces (eBPF, netns, veth). When they are missing the test is
// skipped with the reason; under CI=true the same condition fails the test
// instead, so CI proves the privileged path rather than skipping it. With
// go test -short the test is always skipped: -short asks for unit tests
// only.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	v, reason := decide(os.Geteuid(), os.Getenv("CI"), testing.Short(), kernelLacks())
	apply(t, v, reason)
}

// RequireCPUs is RequirePrivileged's rule for a test that needs n CPUs,
// e.g. to race two of them: skip on a smaller machine, fail under CI=true.
func RequireCPUs(t testing.TB, n int) {
	t.Helper()
	if got := runtime.NumCPU(); got < n {
		v, reason := decide(0, os.Getenv("CI"), false, fmt.Sprintf("needs %d CPUs, this machine has %d", n, got))
		apply(t, v, reason)
	}
}

// requireTool is RequirePrivileged's rule for a program the helpers run,
// e.g. ip: skip without it, fail under CI=true.
func requireTool(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		v, reason := decide(0, os.Getenv("CI"), false, name+" is not on PATH: install "+pkg)
		apply(t, v, reason)
	}
}

func apply(t testing.TB, v verdict, reason string) {
	t.Helper()
	switch v {
	case fail:
		t.Fatalf("privileged test cannot run under CI=true: %s", reason)
	case skip:
		t.Skip(reason)
	}
}

type verdict int

const (
	run verdict = iota
	skip
	fail
)

func (v verdict) String() string {
	switch v {
	case run:
		return "run"
	case skip:
		return "skip"
	case fail:
		return "fail"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// decide tells whether a privileged test runs, skips or fails, and why.
// euid is the effective user ID, ci the value of $CI, short whether -short
// was given and lacks what the kernel is missing ("" when nothing).
func decide(euid int, ci string, short bool, lacks string) (verdict, string) {
	var reason string
	switch {
	case short:
		return skip, "privileged test skipped in -short mode"
	case euid != 0:
		reason = "needs root for eBPF and network namespaces (euid is " + strconv.Itoa(euid) + "): run as root, e.g. sudo make test"
	case lacks != "":
		reason = lacks
	default:
		return run, ""
	}
	if isCI(ci) {
		return fail, reason
	}
	return skip, reason
}

// isCI reports whether $CI asks for privileged tests to be mandatory. CI
// systems set CI=true; 1 and other strconv.ParseBool truths count too.
func isCI(ci string) bool {
	b, err := strconv.ParseBool(ci)
	return err == nil && b
}

// kernelLacks says what the running kernel misses for privileged tests, or
// "" when it has everything.
func kernelLacks() string {
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return "kernel without network namespaces (no /proc/self/ns/net): use a kernel built with CONFIG_NET_NS"
	}
	return ""
}

// RequireTool is RequirePrivileged's rule for a program a test runs, e.g.
// containerd: skip without it on the PATH, naming the Debian package pkg
// to install; fail under CI=true.
func RequireTool(t testing.TB, name, pkg string) {
	t.Helper()
	requireTool(t, name, pkg)
}
