// Command scale measures how network-graph scales with the number of
// watched network namespaces (issue 7, item 4); hack/bench/scale.sh runs it
// once per count, as root, so that each count gets its own peak RSS.
//
//	scale -netns 500 -new 20
//
// It creates the namespaces gbench-s-<i> (untimed, with one 'ip -batch'),
// drives the network-graph gadget through framework/trace exactly as the
// CLI does (targets added, then the "start" operation), and times:
//
//   - attach_all: the start operation with N targets: one program load and
//     verification, then one tag program and one packet socket per netns;
//   - attach_one: AddTarget of one more namespace while the trace runs,
//     repeated -new times on fresh namespaces (median and maximum);
//   - detach_one: RemoveTarget of one of those while running (median);
//   - stop: the "stop" operation (final drain, every socket closed).
//
// After one drain interval it reads its own VmHWM (peak RSS) and VmRSS from
// /proc/self/status, and prints one JSON object on stdout. Every namespace
// it creates is deleted before it exits, also on error or SIGINT.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/trace"
	"github.com/gadgetkit/gadget/gadgets/networkgraph"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

func main() {
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	n := fs.Int("netns", 100, "namespaces watched from the start")
	newCount := fs.Int("new", 20, "namespaces attached one at a time while running")
	prefix := fs.String("prefix", "gbench-s", "name prefix of the namespaces it creates; must start with gbench-")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() != 0 || *n <= 0 || *newCount <= 0 || !strings.HasPrefix(*prefix, "gbench-") {
		fmt.Fprintln(os.Stderr, "usage: scale -netns N [-new M] [-prefix gbench-s]  (N, M > 0; the prefix starts with gbench-)")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, log, *n, *newCount, *prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// result is what one run reports; times in milliseconds, sizes in KiB.
type result struct {
	Netns          int     `json:"netns"`
	AttachAllMS    float64 `json:"attach_all_ms"`
	AttachOneMS    float64 `json:"attach_one_ms"`
	AttachOneMaxMS float64 `json:"attach_one_max_ms"`
	DetachOneMS    float64 `json:"detach_one_ms"`
	StopMS         float64 `json:"stop_ms"`
	VmHWMKiB       int64   `json:"vmhwm_kib"`
	VmRSSKiB       int64   `json:"vmrss_kib"`
	Edges          int     `json:"edges"`
}

func run(ctx context.Context, log *slog.Logger, n, newCount int, prefix string) (res result, err error) {
	names := make([]string, 0, n+newCount)
	for i := range n + newCount {
		names = append(names, fmt.Sprintf("%s-%d", prefix, i))
	}
	defer func() {
		if derr := ipBatch(context.WithoutCancel(ctx), "netns del", names); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if err := ipBatch(ctx, "netns add", names); err != nil {
		return res, err
	}
	host, err := os.Hostname()
	if err != nil {
		return res, fmt.Errorf("host name: %w", err)
	}
	target := func(name string) gadget.Target {
		return gadget.Target{ID: name, Node: host, Pod: name, NetnsPath: "/var/run/netns/" + name}
	}

	edges := 0
	tr, err := trace.New(nil, trace.Config{
		Gadget:     networkgraph.Name,
		Node:       host,
		Parameters: map[string]string{"interval": "1s"},
		Logger:     log,
		Emit: func(b any) {
			if evs, ok := b.([]types.Event); ok {
				edges += len(evs)
			}
		},
	})
	if err != nil {
		return res, err
	}
	for _, name := range names[:n] {
		if err := tr.AddTarget(ctx, target(name)); err != nil {
			return res, err
		}
	}
	start := time.Now()
	if err := tr.Operate(ctx, "start"); err != nil {
		return res, err
	}
	res.AttachAllMS = ms(time.Since(start))
	stopped := false
	defer func() {
		if !stopped {
			err = errors.Join(err, tr.Operate(context.WithoutCancel(ctx), "stop"))
		}
	}()
	if got := len(tr.Targets()); got != n {
		return res, fmt.Errorf("start attached %d of %d namespaces", got, n)
	}

	one := make([]float64, 0, newCount)
	for _, name := range names[n:] {
		t0 := time.Now()
		if err := tr.AddTarget(ctx, target(name)); err != nil {
			return res, err
		}
		one = append(one, ms(time.Since(t0)))
	}
	slices.Sort(one)
	res.AttachOneMS = median(one)
	res.AttachOneMaxMS = one[len(one)-1]

	// Let the drain loop run over every attachment at least once.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(1500 * time.Millisecond):
	}
	// Detach the namespaces added one at a time, one at a time.
	detach := make([]float64, 0, newCount)
	for _, name := range names[n:] {
		t0 := time.Now()
		if err := tr.RemoveTarget(ctx, name); err != nil {
			return res, err
		}
		detach = append(detach, ms(time.Since(t0)))
	}
	slices.Sort(detach)
	res.DetachOneMS = median(detach)

	t0 := time.Now()
	stopped = true
	if err := tr.Operate(ctx, "stop"); err != nil {
		return res, err
	}
	res.StopMS = ms(time.Since(t0))
	res.Netns = n
	res.Edges = edges
	res.VmHWMKiB, res.VmRSSKiB, err = memory()
	return res, err
}

// ipBatch runs "ip -batch -" with one "<verb> <name>" line per name.
func ipBatch(ctx context.Context, verb string, names []string) error {
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s %s\n", verb, name)
	}
	cmd := exec.CommandContext(ctx, "ip", "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(b.String())
	out, err := cmd.CombinedOutput()
	if err != nil && verb != "netns del" {
		return fmt.Errorf("ip -batch (%s, %d namespaces): %w: %s", verb, len(names), err, out)
	}
	return nil
}

// memory reads the peak and current resident set size of this process.
func memory() (hwm, rss int64, err error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("read memory use: %w", err)
	}
	defer f.Close()
	return parseStatus(f)
}

func parseStatus(r io.Reader) (hwm, rss int64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		var dst *int64
		switch k {
		case "VmHWM":
			dst = &hwm
		case "VmRSS":
			dst = &rss
		default:
			continue
		}
		if *dst, err = strconv.ParseInt(fields[0], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("parse %s in /proc/self/status: %w", k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read /proc/self/status: %w", err)
	}
	return hwm, rss, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(sorted []float64) float64 {
	m := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[m]
	}
	return (sorted[m-1] + sorted[m]) / 2
}
