// Command tap attaches trivial eBPF programs to network namespaces and holds
// them until SIGINT or SIGTERM, to split network-graph's kernel overhead
// into its parts (hack/bench/kernel.sh, configurations D and E):
//
//	tap -mode packet -netns gbench-k-a -netns gbench-k-b
//	tap -mode tcx    -netns gbench-k-a -netns gbench-k-b
//
// packet: in each namespace, one AF_PACKET socket bound to ETH_P_ALL with a
// socket filter that returns 0 (keeps nothing): what network-graph's
// attachment costs when its program does no work at all.
//
// tcx: a program that returns TCX_NEXT on the TCX ingress and egress hooks
// of every interface but lo in each namespace: the cost of the hook a
// tc-based network-graph would use instead of a packet socket.
//
//	tap -mode tcpstate
//
// tcpstate: a program, gbench_tcpstate, that returns at once, on the
// inet_sock_set_state tracepoint (tp_btf; no -netns): what attach=socket's
// hook costs by itself, at each state change of every TCP socket.
//
// It writes "ready" on stderr once everything is attached.
//
//	tap -mode stats -prog network_graph -prog ng_tag
//
// stats: turns on the kernel's run-time statistics of eBPF programs
// (BPF_ENABLE_STATS, for as long as tap runs), writes "ready", and on
// SIGINT prints, for every loaded program whose name is one of -prog, the
// runs and the nanoseconds per run counted meanwhile, as JSON on stdout:
// {"ng_tag":{"programs":2,"runs":123,"ns_per_run":85.2,"runtime_ms":0.01},...}.
// The programs must still be loaded when tap is stopped. A tail call is
// counted in the program that made it: network-graph's per-namespace
// ng_tag programs carry the whole cost of the shared program. With
// -ids ID,ID,..., each name also gets the entries "NAME@listed" and
// "NAME@others": its programs among those ids, and the rest.
//
//	tap -mode ids -prog ng_tc_tag
//
// ids: prints the ids of the loaded programs named -prog, comma-separated
// (for -ids: the programs loaded so far, e.g. by one of two gadgets
// measured side by side, hack/bench/ab.sh).
//
//	tap -mode close -n 100
//
// close: an experiment on the cost of detaching, in the current namespace.
// It opens n bound ETH_P_ALL packet sockets and closes them one after the
// other, then n more and closes them all at once from n goroutines, and
// prints {"n":100,"sequential_ms":...,"concurrent_ms":...} on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/gadgetkit/gadget/framework/containers"
	"github.com/gadgetkit/gadget/hack/bench/internal/trivial"
)

// netnsFlag collects repeated -netns flags.
type netnsFlag []string

func (n *netnsFlag) String() string     { return strings.Join(*n, ",") }
func (n *netnsFlag) Set(v string) error { *n = append(*n, v); return nil }

func main() {
	var names netnsFlag
	var progs netnsFlag
	flag.Var(&progs, "prog", "program name to report with -mode stats or ids; repeatable")
	ids := flag.String("ids", "", "with -mode stats: program ids (ID,ID,...) to report apart from the others of their name")
	mode := flag.String("mode", "packet", "packet, tcx, tcpstate, stats, ids or close")
	n := flag.Int("n", 100, "sockets to open and close with -mode close")
	flag.Var(&names, "netns", "named network namespace to attach to; repeatable")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *mode == "close" {
		if err := closeExperiment(*n); err != nil {
			fmt.Fprintln(os.Stderr, "tap:", err)
			os.Exit(1)
		}
		return
	}
	if *mode == "ids" {
		if err := printIDs(progs); err != nil {
			fmt.Fprintln(os.Stderr, "tap:", err)
			os.Exit(1)
		}
		return
	}
	if *mode == "stats" {
		listed, err := parseIDs(*ids)
		if err == nil {
			err = stats(ctx, log, progs, listed)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tap:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, log, *mode, names); err != nil {
		fmt.Fprintln(os.Stderr, "tap:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, mode string, names []string) error {
	if len(names) == 0 && mode != "tcpstate" {
		return errors.New("no namespace: pass -netns NAME at least once")
	}
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	switch mode {
	case "packet":
		prog, err := trivial.Program(ebpf.SocketFilter, 0)
		if err != nil {
			return err
		}
		defer prog.Close()
		for _, name := range names {
			var fd int
			err := containers.InNetns("/var/run/netns/"+name, func() error {
				var err error
				fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				return err
			})
			if err != nil {
				return fmt.Errorf("packet socket in %s: %w", name, err)
			}
			closers = append(closers, func() error { return unix.Close(fd) })
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog.FD()); err != nil {
				return fmt.Errorf("attach filter in %s: %w", name, err)
			}
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll}); err != nil {
				return fmt.Errorf("bind packet socket in %s: %w", name, err)
			}
		}
	case "tcx":
		prog, err := trivial.Program(ebpf.SchedCLS, trivial.TCXNext)
		if err != nil {
			return err
		}
		defer prog.Close()
		links, err := trivial.AttachTCX(prog, names)
		if err != nil {
			return err
		}
		closers = append(closers, func() error { return trivial.Detach(links) })
	case "tcpstate":
		prog, err := trivial.TCPState()
		if err != nil {
			return err
		}
		defer prog.Close()
		l, err := trivial.AttachTCPState(prog)
		if err != nil {
			return err
		}
		closers = append(closers, l.Close)
	default:
		return fmt.Errorf("-mode %q: use packet, tcx or tcpstate", mode)
	}
	log.Info("ready", "mode", mode, "netns", len(names))
	<-ctx.Done()
	return nil
}

// progStats sums the statistics of the programs that share a name.
type progStats struct {
	Programs int     `json:"programs"`
	Runs     uint64  `json:"runs"`
	NsPerRun float64 `json:"ns_per_run"`
	// RuntimeMS is the total time the programs ran.
	RuntimeMS float64 `json:"runtime_ms"`
	runtime   time.Duration
}

// stats counts the run time of the named programs until ctx is done.
func stats(ctx context.Context, log *slog.Logger, names []string, listed map[ebpf.ProgramID]bool) error {
	if len(names) == 0 {
		return errors.New("no program: pass -prog NAME at least once")
	}
	closer, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enable eBPF run-time statistics: %w", err)
	}
	defer closer.Close()
	before, err := programs(names)
	if err != nil {
		return err
	}
	log.Info("ready", "mode", "stats")
	<-ctx.Done()
	after, err := programs(names)
	if err != nil {
		return err
	}
	res := map[string]*progStats{}
	for _, name := range names {
		all, in, out := &progStats{}, &progStats{}, &progStats{}
		for id, st := range after[name] {
			prev := before[name][id]
			all.add(st, prev)
			if listed[id] {
				in.add(st, prev)
			} else {
				out.add(st, prev)
			}
		}
		res[name] = all.done()
		if len(listed) > 0 {
			res[name+"@listed"], res[name+"@others"] = in.done(), out.done()
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func (ps *progStats) add(st, prev ebpf.ProgramStats) {
	ps.Programs++
	ps.Runs += st.RunCount - prev.RunCount
	ps.runtime += st.Runtime - prev.Runtime
}

func (ps *progStats) done() *progStats {
	if ps.Runs > 0 {
		ps.NsPerRun = float64(ps.runtime.Nanoseconds()) / float64(ps.Runs)
	}
	ps.RuntimeMS = float64(ps.runtime.Microseconds()) / 1000
	return ps
}

// programs returns the statistics of the loaded programs named one of
// names, by name and id.
func programs(names []string) (map[string]map[ebpf.ProgramID]ebpf.ProgramStats, error) {
	out := map[string]map[ebpf.ProgramID]ebpf.ProgramStats{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list eBPF programs: %w", err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // gone meanwhile
		}
		info, ierr := p.Info()
		st, serr := p.Stats()
		p.Close()
		if ierr != nil || serr != nil || !slices.Contains(names, info.Name) {
			continue
		}
		if out[info.Name] == nil {
			out[info.Name] = map[ebpf.ProgramID]ebpf.ProgramStats{}
		}
		out[info.Name][id] = *st
	}
}

// printIDs prints the ids of the loaded programs named one of names.
func printIDs(names []string) error {
	if len(names) == 0 {
		return errors.New("no program: pass -prog NAME at least once")
	}
	progs, err := programs(names)
	if err != nil {
		return err
	}
	var ids []string
	for _, byID := range progs {
		for id := range byID {
			ids = append(ids, strconv.FormatUint(uint64(id), 10))
		}
	}
	slices.Sort(ids)
	fmt.Println(strings.Join(ids, ","))
	return nil
}

// parseIDs parses -ids: program ids separated by commas, or nothing.
func parseIDs(v string) (map[ebpf.ProgramID]bool, error) {
	ids := map[ebpf.ProgramID]bool{}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("-ids %q: %q is no program id; want ID,ID,... as -mode ids prints them", v, f)
		}
		ids[ebpf.ProgramID(n)] = true
	}
	return ids, nil
}

// ethPAll is ETH_P_ALL in network byte order.
const ethPAll = unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8

// closeExperiment times closing n packet sockets one by one and at once.
func closeExperiment(n int) error {
	if n <= 0 {
		return fmt.Errorf("-n %d: must be positive", n)
	}
	open := func() ([]int, error) {
		fds := make([]int, 0, n)
		for range n {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err == nil {
				err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAll})
			}
			if err != nil {
				for _, fd := range fds {
					_ = unix.Close(fd)
				}
				return nil, fmt.Errorf("packet socket: %w", err)
			}
			fds = append(fds, fd)
		}
		return fds, nil
	}
	fds, err := open()
	if err != nil {
		return err
	}
	t0 := time.Now()
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
	seq := time.Since(t0)
	if fds, err = open(); err != nil {
		return err
	}
	t0 = time.Now()
	var wg sync.WaitGroup
	for _, fd := range fds {
		wg.Go(func() { _ = unix.Close(fd) })
	}
	wg.Wait()
	conc := time.Since(t0)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"n":             n,
		"sequential_ms": float64(seq.Microseconds()) / 1000,
		"concurrent_ms": float64(conc.Microseconds()) / 1000,
	})
}
