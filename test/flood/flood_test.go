// Package flood checks that a node agent's Stream path survives a flood
// under the memory limit it is deployed with: the network-graph gadget
// watching a pod that sends UDP to 10,000 ports, its batches in the
// stream buffer, 50 readers that never read and one that reads late, in
// a process whose memory cgroup allows 256 MiB (issue 18: the same
// pod drove an agent to 1.0 GB RSS and OOM).
package flood

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/streamhttp"
	"github.com/gadgetkit/gadget/framework/trace"
	"github.com/gadgetkit/gadget/internal/testenv"

	_ "github.com/gadgetkit/gadget/gadgets/networkgraph"
)

// The child process: the agent's Stream path for one trace.
const (
	childEnv = "GADGET_FLOOD_CHILD_NETNS"
	token    = "Zmxvb2QtdGVzdC10b2tlbi1vZi0yNTYtYml0cy1vci1zbw"
	memLimit = 256 << 20
	flows    = 10000
	readers  = 50
)

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		if err := child(path); err != nil {
			fmt.Fprintln(os.Stderr, "flood child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// oneStream is controller.Streams for the one trace flood/graph.
type oneStream struct{ ring *streambuf.Ring }

func (s oneStream) Stream(key types.NamespacedName) (*streambuf.Ring, bool) {
	return s.ring, key.String() == "flood/graph"
}

// child runs network-graph on the namespace at path in the Stream output
// mode, as the agent does, serves its stream on a loopback port it
// prints, and runs until its stdin closes.
func child(path string) error {
	ctx := context.Background()
	ring := streambuf.New(token, streambuf.Config{})
	tr, err := trace.New(registry.Default, trace.Config{
		Name: "flood/graph", Gadget: "network-graph", Node: "node-a", OutputMode: gadget.OutputModeStream,
		Parameters: map[string]string{"interval": "200ms"},
		Emit: func(batch any) {
			data, err := json.Marshal(batch)
			if err == nil {
				err = ring.Add(data)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "batch:", err)
			}
		},
	})
	if err != nil {
		return err
	}
	if err := tr.AddTarget(ctx, gadget.Target{ID: "sender", Namespace: "flood", Pod: "sender", NetnsPath: path}); err != nil {
		return err
	}
	if err := tr.Start(ctx); err != nil {
		return err
	}
	defer tr.Stop(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &streamhttp.Server{Streams: oneStream{ring}, WriteTimeout: 5 * time.Second}
	go func() { _ = http.Serve(ln, srv.Handler()) }()
	fmt.Printf("ready %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	st := srv.Stats()
	rs := ring.Stats()
	fmt.Printf("stats events=%d bytes=%d evicted=%d write_timeouts=%d missed_events=%d\n",
		rs.Events, rs.Bytes, rs.EvictedEvents, st.WriteTimeouts, st.MissedEvents)
	return nil
}

// memCgroup creates a memory cgroup below the test's own, limited to
// limit bytes, and returns its folder and the file whose value is its
// peak usage; it is removed when the test ends.
func memCgroup(t *testing.T, limit int64) (dir, peakFile, oomFile string) {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var v1, v2 string
	for line := range strings.Lines(string(self)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		switch {
		case len(parts) != 3:
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case parts[1] == "memory":
			v1 = parts[2]
		}
	}
	name := fmt.Sprintf("gadget-flood-%d", os.Getpid())
	var limitFile string
	switch {
	case v1 != "" && dirExists("/sys/fs/cgroup/memory"):
		dir = filepath.Join("/sys/fs/cgroup/memory", v1, name)
		limitFile, peakFile, oomFile = "memory.limit_in_bytes", "memory.max_usage_in_bytes", "memory.oom_control"
	case v2 != "" && fileExists("/sys/fs/cgroup/cgroup.controllers"):
		dir = filepath.Join("/sys/fs/cgroup", v2, name)
		limitFile, peakFile, oomFile = "memory.max", "memory.peak", "memory.events"
	default:
		t.Skip("no memory cgroup to limit the agent's memory with")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a memory cgroup (%v): the test needs a writable cgroup hierarchy", err)
	}
	t.Cleanup(func() {
		// The child is gone by now; rmdir may race with its exit.
		for range 50 {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("remove cgroup %s: still busy", dir)
	})
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("limit cgroup %s: %v", dir, err)
	}
	return dir, filepath.Join(dir, peakFile), filepath.Join(dir, oomFile)
}

func dirExists(p string) bool  { fi, err := os.Stat(p); return err == nil && fi.IsDir() }
func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// oomKills reads the oom_kill count of a cgroup's memory.oom_control (v1)
// or memory.events (v2).
func oomKills(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestFloodUnderMemoryLimit: the Stream path of one trace, in a process
// limited to 256 MiB, while a pod sends UDP to 10,000 ports and 50
// readers never read: the process stays up, the idle readers are cut off
// by the write deadline, and a late reader is told what it missed.
func TestFloodUnderMemoryLimit(t *testing.T) {
	testenv.RequirePrivileged(t)
	pod := testenv.NewNetns(t, "sender")
	dir, peakFile, oomFile := memCgroup(t, memLimit)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+pod.Path())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("move the agent into its cgroup: %v", err)
	}
	exited := make(chan error, 1)
	out := bufio.NewScanner(stdout)
	if !out.Scan() || !strings.HasPrefix(out.Text(), "ready ") {
		_ = cmd.Process.Kill()
		t.Fatalf("agent did not start: %q", out.Text())
	}
	addr := strings.TrimPrefix(out.Text(), "ready ")
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	path := streamhttp.PathPrefix + "flood/graph"

	// 50 readers that never read, with tiny receive buffers.
	for range readers {
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n%s: %s\r\n\r\n", path, streamhttp.TokenHeader, token)
	}
	// One reader that reads, at 400 KB/s, slower than the flood comes
	// (but never stalls as long as the write timeout).
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set(streamhttp.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("slow reader: %v %v", resp, err)
	}
	defer resp.Body.Close()
	warned := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(&slowReader{r: resp.Body, chunk: 16 << 10, every: 40 * time.Millisecond})
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"type":"warn"`) && strings.Contains(sc.Text(), "stream: missed") {
				warned <- sc.Text()
				return
			}
		}
	}()

	// The pod sends UDP to 10,000 ports for 10 s: 10,000 edges per batch.
	var conn *net.UDPConn
	if err := pod.Do(func() (err error) {
		conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	end := time.Now().Add(10 * time.Second)
	rounds := 0
	for time.Now().Before(end) {
		for p := range flows {
			_, _ = conn.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 20000 + p})
		}
		rounds++
		select {
		case err := <-exited:
			t.Fatalf("the agent exited during the flood (round %d): %v; OOM kills %d", rounds, err, oomKills(t, oomFile))
		default:
		}
	}

	// The slow reader is told what it missed.
	var warn string
	select {
	case warn = <-warned:
		t.Logf("slow reader: %s", warn)
	case <-time.After(60 * time.Second):
		t.Error("slow reader: no warn event saying what it missed")
	}
	select {
	case err := <-exited:
		t.Fatalf("the agent exited: %v", err)
	default:
	}
	peak, _ := os.ReadFile(peakFile)
	t.Logf("%d flood rounds of %d ports; agent cgroup peak %s bytes (limit %d); OOM kills %d",
		rounds, flows, strings.TrimSpace(string(peak)), memLimit, oomKills(t, oomFile))
	if n := oomKills(t, oomFile); n != 0 {
		t.Errorf("%d OOM kills in the agent's cgroup", n)
	}
	_ = stdin.Close()
	if out.Scan() {
		t.Logf("agent: %s", out.Text())
	}
}

// slowReader reads at most chunk bytes every interval.
type slowReader struct {
	r     io.Reader
	chunk int
	every time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.every)
	return s.r.Read(p[:min(len(p), s.chunk)])
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("agent: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
