package goplugin

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// restrict makes cmd start as id: with the user and group of id and no
// supplementary groups. A process that changes from uid 0 to another
// user loses every capability (permitted, effective and ambient) at
// setuid, before it executes the plugin.
func (id identity) restrict(cmd *exec.Cmd) {
	if !id.drop {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: []uint32{}}
}

// startNoNewPrivs runs start, which forks the plugin process, on an OS
// thread with no_new_privs set, which the child inherits: it cannot gain
// privileges through a setuid or file-capability executable. The thread
// is locked and never unlocked, so it ends with the goroutine and no
// other goroutine runs on it with the flag set.
func startNoNewPrivs(start func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			errc <- fmt.Errorf("set no_new_privs: %w", err)
			return
		}
		errc <- start()
	}()
	return <-errc
}
