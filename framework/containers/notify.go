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
// again: `ip netns add` creates the file first and mounts the namespace on
// it right after, which inotify does not report.
const settleDelay = 100 * time.Millisecond

// notifyNetns returns a channel that receives (without blocking the
// sender; changes coalesce) when a file is created, removed or moved in
// one of dirs, until ctx ends. When inotify is not available it returns
// nil, a channel that never fires: Watch still rescans every interval.
func notifyNetns(ctx context.Context, dirs []string) <-chan struct{} {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	watched := 0
	for _, d := range dirs {
		if _, err := unix.InotifyAddWatch(fd, d, unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM); err == nil {
			watched++
		}
	}
	if watched == 0 {
		unix.Close(fd)
		return nil
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
