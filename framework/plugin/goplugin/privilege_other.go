//go:build !linux

package goplugin

import "os/exec"

// restrict does nothing outside Linux.
func (id identity) restrict(*exec.Cmd) {}

// startNoNewPrivs runs start: no_new_privs is Linux's.
func startNoNewPrivs(start func() error) error { return start() }
