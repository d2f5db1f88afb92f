//go:build !linux

package goplugin

import "os/exec"

// launcherCommand runs the plugin directly outside Linux, without the
// memory and CPU limits, which need the Linux launcher.
func (h *host) launcherCommand() *exec.Cmd { return exec.Command(h.path) }
