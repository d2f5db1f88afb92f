// Package cgroupmem reads the memory limit of the calling process's
// cgroup (v2, or the memory controller of v1), the limit the kernel
// enforces by OOM-killing the process, kernel memory such as eBPF maps
// included.
package cgroupmem

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
)

// v1Unlimited is where cgroup v1 reports "no limit": a huge page-aligned
// number; anything from here up is taken as none.
const v1Unlimited = 1 << 62

// Limit returns the memory limit in bytes of the process's cgroup: the
// lowest limit of its cgroup and of the cgroups above it that the
// process can see. ok is false when there is none. It reads
// /proc/self/cgroup and /sys/fs/cgroup.
func Limit() (limit uint64, ok bool, err error) {
	return limitFrom(os.DirFS("/"))
}

// limitFrom is Limit reading the files of root (proc/self/cgroup,
// sys/fs/cgroup/...).
func limitFrom(root fs.FS) (uint64, bool, error) {
	f, err := root.Open("proc/self/cgroup")
	if err != nil {
		return 0, false, fmt.Errorf("read the process's cgroup: %w", err)
	}
	defer f.Close()
	var v2, v1 string
	haveV2, haveV1 := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2, haveV2 = parts[2], true
		case hasController(parts[1], "memory"):
			v1, haveV1 = parts[2], true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, false, fmt.Errorf("read the process's cgroup: %w", err)
	}
	switch {
	case haveV1:
		return walk(root, "sys/fs/cgroup/memory", v1, "memory.limit_in_bytes")
	case haveV2:
		return walk(root, "sys/fs/cgroup", v2, "memory.max")
	}
	return 0, false, nil
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// walk returns the lowest limit in file of the cgroup dir/cg and its
// parents up to dir. In a container with its own cgroup namespace, cg is
// "/" and dir itself is the container's cgroup.
func walk(root fs.FS, dir, cg, file string) (uint64, bool, error) {
	lowest, found := uint64(math.MaxUint64), false
	for p := path.Clean("/" + cg); ; p = path.Dir(p) {
		n, ok, err := readLimit(root, path.Join(dir, p, file))
		if err != nil {
			return 0, false, err
		}
		if ok && n < lowest {
			lowest, found = n, true
		}
		if p == "/" {
			break
		}
	}
	if !found {
		return 0, false, nil
	}
	return lowest, true, nil
}

// readLimit reads one limit file: "max" (v2) or a huge number (v1) is no
// limit; a missing file is no limit.
func readLimit(root fs.FS, name string) (uint64, bool, error) {
	b, err := fs.ReadFile(root, strings.TrimPrefix(name, "/"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read the cgroup memory limit: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("read the cgroup memory limit /%s: %q is not a number of bytes", name, s)
	}
	if n >= v1Unlimited {
		return 0, false, nil
	}
	return n, true, nil
}
