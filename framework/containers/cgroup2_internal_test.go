package containers

import (
	"strings"
	"testing"
)

func TestCgroup2MountPoint(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, want string
	}{
		{
			name: "cgroup v1 node: no v2 mount",
			mountinfo: `25 1 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
`,
		},
		{
			name: "unified node",
			mountinfo: `30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
`,
			want: "/sys/fs/cgroup",
		},
		{
			name: "hybrid node: the unified mount, not a subtree bind",
			mountinfo: `40 24 0:30 /kubepods /mnt/sub rw,relatime - cgroup2 cgroup2 rw
41 24 0:30 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
`,
			want: "/sys/fs/cgroup/unified",
		},
		{
			name: "escaped space in the mount point, optional fields",
			mountinfo: `50 24 0:31 / /run/my\040cgroup rw shared:7 master:1 - cgroup2 none rw
`,
			want: "/run/my cgroup",
		},
		{
			name:      "malformed line skipped",
			mountinfo: "garbage - cgroup2\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroup2MountPoint(strings.NewReader(tc.mountinfo))
			if err != nil || got != tc.want {
				t.Errorf("cgroup2MountPoint = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
