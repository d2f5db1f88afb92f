package containers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gadgetkit/gadget/framework/gadget"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web-1", Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx"}, {Name: "sidecar"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", HostIP: "192.168.1.1"},
	}
}

func TestMatchPod(t *testing.T) {
	for _, tc := range []struct {
		name          string
		filter        gadget.Filter
		wantOK        bool
		wantContainer string
	}{
		{"empty filter matches", gadget.Filter{}, true, ""},
		{"namespace", gadget.Filter{Namespace: "demo"}, true, ""},
		{"other namespace", gadget.Filter{Namespace: "prod"}, false, ""},
		{"podname", gadget.Filter{Namespace: "demo", Podname: "web-1"}, true, ""},
		{"podname is exact, not a prefix", gadget.Filter{Podname: "web"}, false, ""},
		{"one label", gadget.Filter{Labels: map[string]string{"app": "web"}}, true, ""},
		{"all labels", gadget.Filter{Labels: map[string]string{"app": "web", "tier": "front"}}, true, ""},
		{"label with other value", gadget.Filter{Labels: map[string]string{"app": "db"}}, false, ""},
		{"missing label", gadget.Filter{Labels: map[string]string{"app": "web", "zone": "a"}}, false, ""},
		{"label with empty value is not absent", gadget.Filter{Labels: map[string]string{"zone": ""}}, false, ""},
		{"container", gadget.Filter{ContainerName: "sidecar"}, true, "sidecar"},
		{"unknown container", gadget.Filter{ContainerName: "redis"}, false, ""},
		{"everything", gadget.Filter{Namespace: "demo", Podname: "web-1", Labels: map[string]string{"tier": "front"}, ContainerName: "nginx"}, true, "nginx"},
		{"everything but the namespace", gadget.Filter{Namespace: "x", Podname: "web-1", ContainerName: "nginx"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := matchPod(testPod(), tc.filter)
			if ok != tc.wantOK || c != tc.wantContainer {
				t.Errorf("matchPod(%+v) = %q, %v; want %q, %v", tc.filter, c, ok, tc.wantContainer, tc.wantOK)
			}
		})
	}
}

func TestPodState(t *testing.T) {
	for _, tc := range []struct {
		name        string
		edit        func(*corev1.Pod)
		running     bool
		hostNetwork bool
		ips         []string
	}{
		{"running", func(*corev1.Pod) {}, true, false, []string{"10.0.0.5"}},
		{"pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, false, false, []string{"10.0.0.5"}},
		{"succeeded", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false, false, []string{"10.0.0.5"}},
		{"no IP yet", func(p *corev1.Pod) { p.Status.PodIP = "" }, false, false, nil},
		{"hostNetwork", func(p *corev1.Pod) { p.Spec.HostNetwork = true }, true, true, []string{"10.0.0.5"}},
		{"pod IP is the host IP", func(p *corev1.Pod) { p.Status.PodIP = p.Status.HostIP }, true, true, []string{"192.168.1.1"}},
		{"dual stack, podIP first, no duplicates", func(p *corev1.Pod) {
			p.Status.PodIPs = []corev1.PodIP{{IP: "fd00::5"}, {IP: "10.0.0.5"}, {IP: "::ffff:10.0.0.5"}}
		}, true, false, []string{"10.0.0.5", "fd00::5"}},
		{"garbage IPs are ignored", func(p *corev1.Pod) {
			p.Status.PodIPs = []corev1.PodIP{{IP: "not-an-ip"}}
		}, true, false, []string{"10.0.0.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPod()
			tc.edit(p)
			if got := podRunning(p); got != tc.running {
				t.Errorf("podRunning = %v, want %v", got, tc.running)
			}
			if got := hostNetwork(p); got != tc.hostNetwork {
				t.Errorf("hostNetwork = %v, want %v", got, tc.hostNetwork)
			}
			var got []string
			for _, a := range podIPs(p) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.ips) {
				t.Errorf("podIPs = %v, want %v", got, tc.ips)
			}
		})
	}
}

func TestFilterString(t *testing.T) {
	f := gadget.Filter{Namespace: "demo", Podname: "p", Labels: map[string]string{"b": "2", "a": "1"}, ContainerName: "c"}
	if got, want := filterString(f), "namespace=demo,podname=p,labels=a=1,b=2,containerName=c"; got != want {
		t.Errorf("filterString = %q, want %q", got, want)
	}
}

// fakeIndex is a netnsIndex over a scripted node: scans return the current
// value of addrs and are counted; live says which namespace paths exist.
type fakeIndex struct {
	*netnsIndex
	addrs map[netip.Addr][]netnsEntry
	live  map[string]uint64
	scans int
	clock time.Time
	err   error
}

func newFakeIndex() *fakeIndex {
	f := &fakeIndex{addrs: map[netip.Addr][]netnsEntry{}, live: map[string]uint64{}, clock: time.Unix(1000, 0)}
	f.netnsIndex = &netnsIndex{
		minInterval: time.Second,
		now:         func() time.Time { return f.clock },
		scan: func(context.Context) (map[netip.Addr][]netnsEntry, error) {
			f.scans++
			if f.err != nil {
				return nil, f.err
			}
			out := map[netip.Addr][]netnsEntry{}
			for k, v := range f.addrs {
				out[k] = slices.Clone(v)
			}
			return out, nil
		},
		inode: func(path string) (uint64, error) {
			if ino, ok := f.live[path]; ok {
				return ino, nil
			}
			return 0, errors.New("gone")
		},
	}
	return f
}

func (f *fakeIndex) addNetns(path string, ino uint64, addrs ...string) {
	f.live[path] = ino
	for _, a := range addrs {
		ip := netip.MustParseAddr(a)
		f.addrs[ip] = append(f.addrs[ip], netnsEntry{path: path, ino: ino})
	}
}

func TestNetnsIndex(t *testing.T) {
	ctx := context.Background()
	ip := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	f := newFakeIndex()
	f.addNetns("/run/netns/a", 11, "10.0.0.1", "fd00::1")
	f.addNetns("/proc/7/ns/net", 12, "10.0.0.2")

	check := func(step string, addrs []netip.Addr, wantRes lookupResult, wantPath string, wantScans int) {
		t.Helper()
		e, res, err := f.lookup(ctx, addrs)
		if err != nil {
			t.Fatalf("%s: lookup: %v", step, err)
		}
		if res != wantRes || e.path != wantPath || f.scans != wantScans {
			t.Errorf("%s: lookup(%v) = %q, %v after %d scans; want %q, %v after %d",
				step, addrs, e.path, res, f.scans, wantPath, wantRes, wantScans)
		}
	}

	check("first lookup scans", ip("10.0.0.1"), lookupFound, "/run/netns/a", 1)
	check("hit uses the cache", ip("10.0.0.2"), lookupFound, "/proc/7/ns/net", 1)
	check("second address of a dual-stack pod", ip("10.9.9.9", "fd00::1"), lookupFound, "/run/netns/a", 1)

	// A namespace created after the scan is found once the rate limit
	// allows a rescan.
	f.addNetns("/run/netns/b", 13, "10.0.0.3")
	f.clock = f.clock.Add(500 * time.Millisecond)
	check("miss within the rate limit does not rescan", ip("10.0.0.3"), lookupMissing, "", 1)
	f.clock = f.clock.Add(600 * time.Millisecond)
	check("miss after the rate limit rescans", ip("10.0.0.3"), lookupFound, "/run/netns/b", 2)

	// A namespace that went away no longer counts, even from the cache.
	delete(f.live, "/proc/7/ns/net")
	f.clock = f.clock.Add(2 * time.Second)
	check("gone namespace", ip("10.0.0.2"), lookupMissing, "", 3)

	// The same address in two namespaces is ambiguous.
	f.addNetns("/run/netns/b", 13, "10.0.0.4")
	f.addNetns("/run/netns/c", 14, "10.0.0.4")
	f.clock = f.clock.Add(2 * time.Second)
	check("ambiguous", ip("10.0.0.4"), lookupAmbiguous, "", 4)

	// A path reused by another namespace (new inode) is not the old one.
	f.live["/run/netns/a"] = 99
	f.clock = f.clock.Add(2 * time.Second)
	check("reused path", ip("10.0.0.1"), lookupMissing, "", 5)

	// A failing scan keeps the previous index and reports the error.
	f.err = errors.New("boom")
	f.clock = f.clock.Add(2 * time.Second)
	if _, res, err := f.lookup(ctx, ip("10.7.7.7")); err == nil || res != lookupMissing {
		t.Errorf("failing scan: lookup = %v, %v; want lookupMissing and an error", res, err)
	}
	f.err = nil
	check("index kept after a failed scan", ip("10.0.0.4"), lookupAmbiguous, "", 6)
}

// TestHostNetworkPodsWarned checks that the host-network pods a filter
// selects are left out of the targets and named in the warning, and that
// no warning is made without them.
func TestHostNetworkPodsWarned(t *testing.T) {
	pod := func(ns, name string, hostNet bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name)}}
		p.Spec.HostNetwork = hostNet
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "192.0.2.10", HostIP: "192.0.2.10"}
		if !hostNet {
			p.Status.HostIP = "192.0.2.1"
		}
		return p
	}
	w := &podWatch{filter: gadget.Filter{Namespace: "demo"}, log: slog.New(slog.DiscardHandler),
		resolved: map[types.UID]resolvedPod{}, noted: map[types.UID]string{}}
	objs := []any{pod("demo", "node-exporter", true), pod("demo", "agent", true), pod("other", "hostnet", true)}
	targets, hostNet, pending := w.targets(t.Context(), objs)
	if len(targets) != 0 || pending {
		t.Errorf("targets %v, pending %v; want none", targets, pending)
	}
	if !slices.Equal(hostNet, []string{"demo/agent", "demo/node-exporter"}) {
		t.Errorf("host-network pods = %v, want the two of namespace demo, sorted", hostNet)
	}
	warning := hostNetworkWarning(hostNet)
	for _, want := range []string{"demo/agent, demo/node-exporter", "host network", "not watched", "the node's"} {
		if !strings.Contains(warning, want) {
			t.Errorf("warning %q lacks %q", warning, want)
		}
	}
	if got := hostNetworkWarning(nil); got != "" {
		t.Errorf("warning without host-network pods = %q, want none", got)
	}
	var many []string
	for i := range maxWarnedPods + 3 {
		many = append(many, fmt.Sprintf("demo/p%02d", i))
	}
	if got := hostNetworkWarning(many); !strings.Contains(got, "and 3 more") || strings.Contains(got, many[maxWarnedPods]) {
		t.Errorf("warning for %d pods = %q, want %d names and \"and 3 more\"", len(many), got, maxWarnedPods)
	}
}
