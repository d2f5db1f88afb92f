package testenv

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// OpenTCP is the number of TCP sockets of n that are connecting, connected
// or closing: all but listeners and those in TIME_WAIT or CLOSE, whose
// connection has ended (/proc/net/tcp and tcp6 as seen from inside n).
func (n *Netns) OpenTCP() (int, error) {
	open := 0
	err := n.Do(func() error {
		for _, f := range []string{"tcp", "tcp6"} {
			c, err := openTCPIn("/proc/thread-self/net/" + f)
			if err != nil {
				return err
			}
			open += c
		}
		return nil
	})
	return open, err
}

// openTCPIn counts the sockets of a /proc/net/tcp table whose state (the
// fourth column, hexadecimal) is not TIME_WAIT (06), CLOSE (07) or LISTEN
// (0A).
func openTCPIn(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read TCP sockets: %w", err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			return 0, fmt.Errorf("read TCP sockets: %s: short line %q", path, sc.Text())
		}
		switch fields[3] {
		case "06", "07", "0A":
		default:
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read TCP sockets: %s: %w", path, err)
	}
	return n, nil
}

// WaitTCPClosed waits until no TCP connection of the namespaces is open
// (OpenTCP) in two reads 10 ms apart, and fails the test after timeout. A
// connection leaves the kernel's tables right before its close is
// announced (the inet_sock_set_state tracepoint, in the same locked
// section), so the second read leaves that time to whatever follows the
// close.
func WaitTCPClosed(t testing.TB, timeout time.Duration, ns ...*Netns) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	clean := 0
	for clean < 2 {
		open := 0
		for _, n := range ns {
			c, err := n.OpenTCP()
			if err != nil {
				t.Fatalf("namespace %s: %v", n.Name(), err)
			}
			open += c
		}
		if open == 0 {
			clean++
		} else {
			clean = 0
		}
		if open > 0 && time.Now().After(deadline) {
			t.Fatalf("%d TCP connections still open after %v", open, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
