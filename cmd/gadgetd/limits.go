package main

import (
	"flag"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gadgetkit/gadget/framework/controller"
	"github.com/gadgetkit/gadget/framework/streambuf"
	"github.com/gadgetkit/gadget/framework/streamhttp"
)

// budgetAuto is the default of --kernel-memory-budget: half of the
// agent's cgroup memory limit.
const budgetAuto = "auto"

// unlimitedBudget is the kernel memory budget of --kernel-memory-budget
// auto when the agent's cgroup has no memory limit.
const unlimitedBudget = 1 << 30

// limits are the flags that bound the agent's memory: the stream buffers
// and readers, and the traces a node runs (docs/kubernetes.md, "Memory
// limits").
type limits struct {
	streamBytes        resource.Quantity
	streamMaxReaders   int
	streamWriteTimeout time.Duration
	kernelMemoryBudget string
	maxTraces          int
	// kernelBytes is the budget resolved by serve (kernelBudget).
	kernelBytes uint64
}

// register adds the flags to fs, with their defaults.
func (l *limits) register(fs *flag.FlagSet) {
	l.streamBytes = *resource.NewQuantity(streambuf.DefaultBytes, resource.BinarySI)
	fs.Func("stream-bytes", "bytes of events kept for the readers of each Stream-mode trace, e.g. 8Mi (the default); "+
		"a reader that falls further behind misses the oldest and is told so", func(s string) error {
		q, err := resource.ParseQuantity(s)
		if err != nil || q.Value() < 64<<10 || q.Value() > 1<<30 {
			return fmt.Errorf("%q: want a size from 64Ki to 1Gi, e.g. 8Mi", s)
		}
		l.streamBytes = q
		return nil
	})
	fs.IntVar(&l.streamMaxReaders, "stream-max-readers", streamhttp.DefaultMaxReaders,
		"readers one trace's stream may have at once; more are answered 429 Too Many Requests")
	fs.DurationVar(&l.streamWriteTimeout, "stream-write-timeout", streamhttp.DefaultWriteTimeout,
		"a stream reader that does not accept a write within this time is disconnected")
	fs.StringVar(&l.kernelMemoryBudget, "kernel-memory-budget", budgetAuto,
		"kernel memory (eBPF maps, estimated by each gadget from the trace's parameters) the started traces of this node "+
			"may pin together, e.g. 256Mi; a Trace that would exceed it is refused with an operationError. "+
			"auto: half of the agent's cgroup memory limit (1Gi without a limit); 0: no limit")
	fs.IntVar(&l.maxTraces, "max-traces", controller.DefaultMaxTraces,
		"traces that may run on this node at once; one more is refused with an operationError")
}

// check validates the flags once parsed.
func (l *limits) check() error {
	switch {
	case l.streamMaxReaders < 1:
		return fmt.Errorf("--stream-max-readers %d: want at least 1", l.streamMaxReaders)
	case l.streamWriteTimeout < time.Second:
		return fmt.Errorf("--stream-write-timeout %v: want at least 1s", l.streamWriteTimeout)
	case l.maxTraces < 1:
		return fmt.Errorf("--max-traces %d: want at least 1", l.maxTraces)
	}
	_, _, err := l.parseBudget()
	return err
}

// parseBudget reads --kernel-memory-budget: auto, or a size.
func (l *limits) parseBudget() (n uint64, auto bool, err error) {
	if l.kernelMemoryBudget == budgetAuto {
		return 0, true, nil
	}
	q, err := resource.ParseQuantity(l.kernelMemoryBudget)
	if err != nil || q.Sign() < 0 {
		return 0, false, fmt.Errorf("--kernel-memory-budget %q: want auto, 0 (no limit) or a size, e.g. 256Mi", l.kernelMemoryBudget)
	}
	return uint64(q.Value()), false, nil
}

// kernelBudget returns the kernel memory budget in bytes (0: none),
// reading the cgroup's limit for auto; read is cgroupmem.Limit.
func (l *limits) kernelBudget(log *slog.Logger, read func() (uint64, bool, error)) (uint64, error) {
	n, auto, err := l.parseBudget()
	if err != nil || !auto {
		return n, err
	}
	limit, ok, err := read()
	if err != nil {
		return 0, fmt.Errorf("--kernel-memory-budget auto: %w: pass a size instead, e.g. --kernel-memory-budget 256Mi", err)
	}
	if !ok {
		log.Info("no cgroup memory limit: kernel memory budget set to a fixed size", "budget", unlimitedBudget)
		return unlimitedBudget, nil
	}
	log.Info("kernel memory budget: half of the cgroup memory limit", "limit", limit, "budget", limit/2)
	return limit / 2, nil
}
