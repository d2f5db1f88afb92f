package goplugin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// The identity of an unprivileged plugin process started by a host running
// as root: nobody, nogroup.
const (
	DefaultUID = 65534
	DefaultGID = 65534
)

// identity is who a plugin process runs as.
type identity struct {
	// drop is set when the process is to run as uid:gid rather than as
	// the host (a root host and a plugin without Options.Privileged).
	drop     bool
	uid, gid uint32
}

// identity returns who the plugin process of h runs as, given the host's
// effective user ID.
func (h *host) identity(euid int) identity {
	if h.opts.Privileged || euid != 0 {
		return identity{}
	}
	id := identity{drop: true, uid: h.opts.UID, gid: h.opts.GID}
	if id.uid == 0 {
		id.uid = DefaultUID
	}
	if id.gid == 0 {
		id.gid = DefaultGID
	}
	return id
}

// checkExecutable fails, saying why and the fix, when the user id cannot execute
// the plugin file at path: every directory above it must be searchable
// and the file executable by that user. Only the mode bits are checked
// (root's DAC overrides do not apply to uid).
func (id identity) checkExecutable(path string) error {
	if !id.drop {
		return nil
	}
	fix := fmt.Sprintf("make the file and its directories readable and executable by others (chmod o+rx), "+
		"or let the plugin keep the host's privileges (--plugin-privileged %s)", filepath.Base(path))
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if !id.may(dir, 0o1) {
			return fmt.Errorf("the plugin runs as uid %d without privileges, which cannot enter %s: %s", id.uid, dir, fix)
		}
		if dir == "/" || dir == "." {
			break
		}
	}
	if !id.may(path, 0o1) {
		return fmt.Errorf("the plugin runs as uid %d without privileges, which cannot execute it: %s", id.uid, fix)
	}
	return nil
}

// may reports whether id has the permission bits want (a combination of
// 4, 2, 1) on the file at path, by its mode, owner and group.
func (id identity) may(path string, want os.FileMode) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	mode := st.Mode().Perm()
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case ok && sys.Uid == id.uid:
		return mode>>6&want == want
	case ok && sys.Gid == id.gid:
		return mode>>3&want == want
	}
	return mode&want == want
}

// explainStart turns the failure to start a plugin process without
// privileges into one line with the fix.
func (id identity) explainStart(path string, err error) error {
	if id.drop && errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("cannot start it as uid %d (%v): the host needs CAP_SETUID and CAP_SETGID to drop a plugin's privileges "+
			"(deploy/daemonset.yaml grants them to gadgetd), or let the plugin keep the host's privileges (--plugin-privileged %s)",
			id.uid, err, filepath.Base(path))
	}
	return nil
}
