package containers

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDirs are the folders where named network namespaces appear (ip
// netns, CNI plugins); /var/run is usually a link to /run, and watching
// the same folder twice is harmless.
var netnsDirs = []string{"/var/run/netns", "/run/netns"}

// settleDelay is how long after a change in a netns folder Watch looks
// again, and settleRetries how many times, each time twice as long after
// the last (0.1, 0.2, 0.4 … 3.2 s): `ip netns add` creates the file first
// and mounts the namespace on it later, which inotify does not report.
const (
	settleDelay   = 100 * time.Millisecond
	settleRetries = 6
)

// pollDirsEvery is how often the folders are looked at when inotify is not
// available (e.g. the user's inotify instances are used up).
const pollDirsEvery = 100 * time.Millisecond

// notifyNetns returns a channel that receives (without blocking the
// sender; changes coalesce) when a file is created, removed or moved in
// one of dirs, and when something is mounted or unmounted, until ctx ends.
// `ip netns add` creates the namespace's file first and bind-mounts the
// namespace on it a few milliseconds later: the file's creation is seen
// through inotify (where inotify cannot be set up, by comparing the
// folders' modification times every pollDirsEvery), the mount through the
// mount table (/proc/self/mountinfo, which polls ready on every change).
func notifyNetns(ctx context.Context, dirs []string) <-chan struct{} {
	ch := notifyDirs(ctx, dirs)
	watchMounts(ctx, "/proc/self/mountinfo", ch)
	return ch
}

// notifyDirs signals on its channel when a file is created, removed or
// moved in one of dirs.
func notifyDirs(ctx context.Context, dirs []string) chan struct{} {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return pollDirs(ctx, dirs)
	}
	watched := 0
	for _, d := range dirs {
		if _, err := unix.InotifyAddWatch(fd, d, unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM); err == nil {
			watched++
		}
	}
	if watched == 0 {
		unix.Close(fd)
		return pollDirs(ctx, dirs)
	}
	// A non-blocking fd in an os.File is read through the runtime's poller,
	// so closing the file ends a pending Read.
	f := os.NewFile(uintptr(fd), "inotify:netns")
	ch := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				if errors.Is(err, os.ErrClosed) || ctx.Err() != nil {
					return
				}
				continue
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch
}

// pollDirs signals when the modification time of one of dirs changes (a
// file was created or removed in it), looking every pollDirsEvery.
func pollDirs(ctx context.Context, dirs []string) chan struct{} {
	ch := make(chan struct{}, 1)
	stamp := func() string {
		var b []byte
		for _, d := range dirs {
			if fi, err := os.Stat(d); err == nil {
				b = fi.ModTime().AppendFormat(b, time.RFC3339Nano)
			}
			b = append(b, '|')
		}
		return string(b)
	}
	go func() {
		t := time.NewTicker(pollDirsEvery)
		defer t.Stop()
		last := stamp()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if now := stamp(); now != last {
				last = now
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}

// watchMounts signals on ch, without blocking, whenever the mount table
// shown by mountinfo (a /proc/PID/mountinfo file) changes, until ctx ends.
// It does nothing where the file cannot be opened: the inotify events and
// Watch's retries still find new namespaces, a little later.
func watchMounts(ctx context.Context, mountinfo string, ch chan struct{}) {
	// A raw file descriptor: in an os.File, the runtime's poller would
	// register it with epoll, whose own poll of the file would consume the
	// changes before Poll below sees them.
	fd, err := unix.Open(mountinfo, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	// ctx's end wakes the poll through an eventfd.
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return
	}
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		_, _ = unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	})
	go func() {
		defer func() {
			if !stop() {
				<-woken // the write is done: wake can be closed
			}
			unix.Close(wake)
			unix.Close(fd)
		}()
		fds := []unix.PollFd{
			{Fd: int32(fd), Events: unix.POLLPRI},
			{Fd: int32(wake), Events: unix.POLLIN},
		}
		for {
			// The kernel marks the file POLLPRI|POLLERR once per change
			// of the mount table, and clears the mark as it reports it.
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return
			}
			if fds[1].Revents != 0 || ctx.Err() != nil {
				return
			}
			if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
}
