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
// one of dirs, until ctx ends. It uses inotify; where inotify cannot be
// set up it compares the folders' modification times every
// pollDirsEvery instead.
func notifyNetns(ctx context.Context, dirs []string) <-chan struct{} {
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
func pollDirs(ctx context.Context, dirs []string) <-chan struct{} {
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
