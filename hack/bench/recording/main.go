// Command recording writes a large network-graph recording in JSON lines,
// as 'kubectl gadget network-graph record' does, for the memory benchmark
// of gadget format and kubectl gadget network-graph advise
// (hack/bench/recording.sh):
//
//	go run ./hack/bench/recording -size 500MiB -edges 10000 -out big.jsonl
//
// The events cycle through -edges distinct edges (pods of three
// namespaces talking to pods, services and outside addresses), so the
// unique graph stays -edges long however large the file grows. The output
// is the same for the same flags.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

func main() {
	size := flag.String("size", "500MiB", "size of the file to write, e.g. 500MiB or 2GiB")
	edges := flag.Int("edges", 10000, "number of distinct edges")
	out := flag.String("out", "", "file to write (required)")
	flag.Parse()
	if err := run(*size, *edges, *out); err != nil {
		fmt.Fprintln(os.Stderr, "recording:", err)
		os.Exit(1)
	}
}

func run(size string, edges int, out string) error {
	limit, err := parseSize(size)
	if err != nil {
		return fmt.Errorf("-size %q: %w", size, err)
	}
	if edges < 1 {
		return fmt.Errorf("-edges %d: want at least 1", edges)
	}
	if out == "" {
		return fmt.Errorf("-out: name the file to write")
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	var written int64
	for i := 0; written < limit; i++ {
		e := event(i%edges, t0.Add(time.Duration(i)*time.Millisecond))
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		b = append(b, '\n')
		n, err := w.Write(b)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// event returns an observation of edge k at t.
func event(k int, t time.Time) types.Event {
	ns := []string{"shop", "billing", "search"}[k%3]
	pod := fmt.Sprintf("web-%d", k/3%50)
	e := types.Event{
		Event:     eventtypes.Event{Type: eventtypes.NORMAL, Node: "node-1", Namespace: ns, Pod: pod},
		PktType:   types.PktTypeOutgoing,
		Proto:     "tcp",
		IP:        fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255),
		Port:      1024 + k%30000,
		PodIP:     "10.244.0." + strconv.Itoa(k%200+2),
		PodHostIP: "192.168.1.10",
		PodOwner:  "Deployment/web",
		PodLabels: map[string]string{"app": "web", "pod-template-hash": "7f9c"},
		Packets:   3,
		Bytes:     420,
		FirstSeen: t,
		LastSeen:  t,
	}
	switch k % 3 {
	case 0:
		e.RemoteKind, e.RemotePodNamespace, e.RemotePodName = types.RemoteKindPod, ns, "api-"+strconv.Itoa(k%7)
		e.RemotePodLabels = map[string]string{"app": "api"}
	case 1:
		e.RemoteKind, e.RemoteSvcNamespace, e.RemoteSvcName = types.RemoteKindSvc, ns, "db"
		e.RemoteSvcLabelSelector = map[string]string{"app": "db"}
	default:
		e.RemoteKind, e.RemoteOther = types.RemoteKindOther, e.IP
	}
	if k%2 == 0 {
		e.PktType = types.PktTypeHost
	}
	return e
}

// parseSize parses 500MiB, 2GiB or a number of bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = n, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 500MiB")
	}
	return n * mult, nil
}
