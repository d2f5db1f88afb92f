// Package testenv gives the repository's tests what they need from the
// machine: a check that privileged tests may run, and network namespaces
// linked by veth pairs to send real traffic between.
package testenv

import (
	"os"
	"testing"
)

// RequirePrivileged must be the first line of a test that needs root (eBPF,
// network namespaces). Without root the test is skipped with the reason;
// under CI=true the same condition fails the test, so CI proves the
// privileged path instead of skipping it.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	switch v, reason := decide(os.Geteuid(), os.Getenv("CI")); v {
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

// decide tells whether a privileged test runs, skips or fails.
func decide(euid int, ci string) (verdict, string) {
	if euid == 0 {
		return run, ""
	}
	reason := "needs root for eBPF and network namespaces: run as root, e.g. sudo make test"
	if ci == "true" {
		return fail, reason
	}
	return skip, reason
}
