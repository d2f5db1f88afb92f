// Command perfshare reads a system-wide CPU profile with call chains, as
// printed by
//
//	perf script -F cpu,ip,sym -i perf.data
//
// on stdin and writes, as JSON on stdout, how much of each CPU's time was
// spent inside network-graph's eBPF programs (a sample counts when any
// frame of its call chain is one of them, so the map lookups and helpers
// they call count too), and which functions those samples ended in:
//
//	{"cpus":[{"cpu":0,"samples":20000,"idle":1500,"gadget":1300,"share_pct":6.5}],
//	 "busiest":0,"functions":[{"name":"network_graph_tc","pct":61.2},...]}
//
// "busiest" is the CPU with the most busy samples: the one that limits a
// flood's rate (hack/bench/kernel.sh profiles network-graph during the UDP
// flood, whose sender and its softirq receive path share one CPU).
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// gadgetProg matches the kernel symbols of network-graph's programs:
// bpf_prog_<tag>_<name>, the name whole (kernels with the program's BTF
// use its function name) or cut to 15 characters (the program name).
var gadgetProg = regexp.MustCompile(`^bpf_prog_[0-9a-f]+_(ng_tc_tag|ng_tag|network_graph[a-z_]*)$`)

// idleFrames mark a sample taken while the CPU had nothing to run.
var idleFrames = []string{"do_idle", "cpu_startup_entry", "default_idle", "pv_native_safe_halt", "cpuidle_enter"}

type cpuShare struct {
	CPU      int     `json:"cpu"`
	Samples  int     `json:"samples"`
	Idle     int     `json:"idle"`
	Gadget   int     `json:"gadget"`
	SharePct float64 `json:"share_pct"`
}

type function struct {
	Name string  `json:"name"`
	Pct  float64 `json:"pct"`
}

type report struct {
	CPUs      []cpuShare `json:"cpus"`
	Busiest   int        `json:"busiest"`
	Functions []function `json:"functions"`
}

func main() {
	r, err := analyse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfshare:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "perfshare:", err)
		os.Exit(1)
	}
}

// sample is one profile sample: its CPU and its frames, leaf first.
type sample struct {
	cpu    int
	frames []string
}

func analyse(in io.Reader) (report, error) {
	cpus := map[int]*cpuShare{}
	leaves := map[string]int{}
	gadgetTotal := 0
	err := samples(in, func(s sample) {
		c := cpus[s.cpu]
		if c == nil {
			c = &cpuShare{CPU: s.cpu}
			cpus[s.cpu] = c
		}
		c.Samples++
		gadget, idle := false, false
		for _, f := range s.frames {
			gadget = gadget || gadgetProg.MatchString(f)
			idle = idle || slices.Contains(idleFrames, f)
		}
		switch {
		case gadget:
			c.Gadget++
			gadgetTotal++
			leaves[leafName(s.frames)]++
		case idle:
			c.Idle++
		}
	})
	if err != nil {
		return report{}, err
	}
	if len(cpus) == 0 {
		return report{}, fmt.Errorf("no samples on stdin: pipe 'perf script -F cpu,ip,sym' of a 'perf record -a -g' profile")
	}
	var r report
	for _, c := range cpus {
		c.SharePct = 100 * float64(c.Gadget) / float64(c.Samples)
		r.CPUs = append(r.CPUs, *c)
	}
	slices.SortFunc(r.CPUs, func(a, b cpuShare) int { return cmp.Compare(a.CPU, b.CPU) })
	// A tickless idle CPU takes few samples (cpu-clock stops with the tick),
	// so the busiest CPU is the one with the most non-idle samples.
	busiest := r.CPUs[0]
	for _, c := range r.CPUs[1:] {
		if c.Samples-c.Idle > busiest.Samples-busiest.Idle {
			busiest = c
		}
	}
	r.Busiest = busiest.CPU
	for name, n := range leaves {
		r.Functions = append(r.Functions, function{Name: name, Pct: 100 * float64(n) / float64(gadgetTotal)})
	}
	slices.SortFunc(r.Functions, func(a, b function) int {
		return cmp.Or(cmp.Compare(b.Pct, a.Pct), cmp.Compare(a.Name, b.Name))
	})
	return r, nil
}

// leafName names the function a sample ended in, network-graph's programs
// by their own names.
func leafName(frames []string) string {
	if len(frames) == 0 {
		return "[unknown]"
	}
	if m := gadgetProg.FindStringSubmatch(frames[0]); m != nil {
		if m[1] == "network_graph_t" {
			return "network_graph_tc"
		}
		return m[1]
	}
	return frames[0]
}

// samples calls fn for every sample of perf script's output: a line
// "[CPU]" (with the leaf frame on it when there is no call chain) followed
// by one indented "ADDRESS SYMBOL" line per frame and a blank line.
func samples(in io.Reader, fn func(sample)) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var cur *sample
	flush := func() {
		if cur != nil {
			fn(*cur)
			cur = nil
		}
	}
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "[") && !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, " "):
			flush()
			end := strings.IndexByte(trimmed, ']')
			if end < 0 {
				return fmt.Errorf("sample line %q: no ']' after the CPU", line)
			}
			n, err := strconv.Atoi(trimmed[1:end])
			if err != nil {
				return fmt.Errorf("sample line %q: CPU: %w", line, err)
			}
			cur = &sample{cpu: n}
			if rest := strings.Fields(trimmed[end+1:]); len(rest) >= 2 {
				cur.frames = append(cur.frames, rest[1])
			}
		case cur != nil:
			if f := strings.Fields(trimmed); len(f) >= 2 {
				cur.frames = append(cur.frames, f[1])
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read perf script output: %w", err)
	}
	return nil
}
