//go:build e2enode

package e2enode

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
	"github.com/gadgetkit/gadget/internal/testenv"
	"github.com/gadgetkit/gadget/test/internal/bpfobj"
	"github.com/gadgetkit/gadget/test/internal/procstat"
	"github.com/gadgetkit/gadget/test/internal/soaks"
)

var (
	soakDuration = flag.Duration("soak-duration", 0,
		"run TestSoakNode for this long (make soak-node sets it from SOAK_DURATION); 0 skips it")
	soakReport = flag.String("soak-report", "", "TestSoakNode writes its figures as a markdown section to this file")
	soakSeed   = flag.Uint64("soak-seed", 0, "seed of TestSoakNode's random schedule; 0 picks one (the test prints it)")
)

const (
	soakNS        = "soak-node"
	soakMonNS     = "soak-monitoring"
	soakMaxTraces = 3 // churned Traces at once, besides the long ones
	soakMaxScale  = 3 // replicas of the churned client Deployment
	soakFloodUDP  = 150
	// soakRestartTimeout bounds how long a killed agent may take to be
	// back and resume every started trace (the kubelet's restart of a
	// killed container included): longer is a crash loop, or as bad.
	soakRestartTimeout = 2 * time.Minute
	// soakRSSBound is the agent's highest RSS allowed, well under the
	// DaemonSet's memory limit (512 MiB).
	soakRSSBound = 384 << 20

	soakBegin = "<!-- soak-node:begin: written by make soak-node (test/e2enode TestSoakNode); hack/bench/report.sh keeps it -->"
	soakEnd   = "<!-- soak-node:end -->"
)

var traceGVR = schema.GroupVersionResource{Group: "gadget.kinvolk.io", Version: "v1alpha1", Resource: "traces"}

// TestSoakNode runs the shipped DaemonSet's gadgetd on the real node for
// -soak-duration under everything at once: Traces of network-graph and
// dns, in Status and Stream mode, created, started, stopped and deleted
// through the API; workload pods churned (a Deployment scaled, pods
// deleted) with real traffic and a UDP flood to many ports; stream
// readers that read at once and slowly; and the agent killed at random
// during the first half, by SIGKILL of its process from the host (the
// kubelet restarts the container) or by deleting its pod at once (the
// DaemonSet makes a new one). It checks:
//
//   - no crash loop: the agent's container restarts exactly once per
//     SIGKILL, pods come only from deletions, and every restart resumes
//     every started trace within soakRestartTimeout;
//   - every loss reported: after each kill every trace that ran says in
//     status.operationWarning that the agent restarted (after the kill)
//     and what may be missing, and the long streams' readers are told
//     that events between the two runs are missing; batches the agent
//     dropped for slow readers reached them as warnings;
//   - no leak: every kernel object (BPF program, map, link) a killed
//     agent held is gone; once every Trace is deleted (none hangs on its
//     finalizer) no TCX program is left in a pod's network namespace and
//     the agent's goroutines and live heap are back to a fresh idle
//     agent's; after undeploy, no object any agent held remains and no
//     new object held by nobody carries a program name the agents used;
//     the agent's RSS stays under soakRSSBound.
//
// It writes its figures to -soak-report (make soak-node puts them into
// docs/benchmarks.md).
func TestSoakNode(t *testing.T) {
	if *soakDuration <= 0 {
		t.Skip("the soak runs only with -soak-duration: make soak-node (SOAK_DURATION=5m)")
	}
	kcfg, cfg := clusterConfig(t, "soak-node")
	ctx, cancel := context.WithTimeout(t.Context(), *soakDuration+12*time.Minute)
	defer cancel()
	e := &env{t: t, ctx: ctx, cs: kubernetes.NewForConfigOrDie(cfg), node: os.Getenv("E2E_NODE"),
		nodeIP: os.Getenv("E2E_NODE_IP"), kcfg: kcfg, tmp: t.TempDir(), started: time.Now()}
	if e.node == "" || e.nodeIP == "" {
		t.Fatal("E2E_NODE or E2E_NODE_IP is not set: run make soak-node")
	}
	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &nodeSoak{e: e, dyn: dynamic.NewForConfigOrDie(cfg).Resource(traceGVR).Namespace(agentNS),
		rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), seed: seed, longReaders: map[string]*nodeReader{},
		pods: map[string]int{}, dropped: map[string]float64{}, held: bpfobj.New(), progNames: map[string]bool{}}
	s.traces = soaks.NewTraces(s, s.rng)
	e.step("soak: seed %d (rerun with -soak-seed %d), duration %v", seed, seed, *soakDuration)
	s.setup()
	s.run(*soakDuration)
	s.drain()
	s.undeploy()
	s.report()
}

type nodeSoak struct {
	e    *env
	dyn  dynamic.ResourceInterface
	rng  *rand.Rand
	seed uint64

	token      string // of a service account bound to gadget-metrics-reader
	baseIDs    bpfobj.IDs
	baseOrphan bpfobj.IDs // objects held by no process before deploy
	traces     *soaks.Traces
	// longReaders are the long Stream traces' fast readers, by trace.
	longReaders map[string]*nodeReader
	readers     []*nodeReader
	readersWG   sync.WaitGroup
	stopRead    context.CancelFunc
	readCtx     context.Context
	agent       *corev1.Pod
	// pods counts the SIGKILLs of each agent pod: its container's restarts.
	pods map[string]int

	mu       sync.Mutex
	rssPeak  int64
	grPeak   int
	heapPeak float64
	rssTenth []int64
	dropped  map[string]float64 // gadget_stream_batches_dropped_total by agent pod
	stopSmp  context.CancelFunc
	smpDone  chan struct{}

	held      bpfobj.IDs      // every kernel object any agent held
	progNames map[string]bool // names of the programs the agents held
	baseline  idleAgent
	final     idleAgent
	started   time.Time
	ran       time.Duration
	stats     nodeStats
	upTimes   []time.Duration
	failures  []string
	leftHeld  int // objects of the agents left after undeploy
	orphans   []string
	tcxLeft   int
	netnsSeen int
	warnMiss  int // "missed" warnings the slow readers got
	newRuns   int // "following its new run" lines in the long readers
	afterAll  bpfobj.IDs
}

type nodeStats struct {
	scales, podDeletes, sigkills, podKills, restarts, newPods, warningsChecked, objectsFreed int
	containerRestarts                                                                        int
}

type idleAgent struct {
	goroutines int
	heapLive   float64
	rss        int64
	bpf        bpfobj.IDs
}

func (s *nodeSoak) fail(format string, args ...any) {
	s.e.t.Helper()
	msg := fmt.Sprintf(format, args...)
	s.failures = append(s.failures, msg)
	s.e.t.Error("soak: " + msg)
}

func (s *nodeSoak) jitter(d time.Duration) time.Duration {
	return time.Duration(s.rng.Int64N(int64(d)))
}

// setup counts the kernel's objects, deploys gadgetd as shipped, starts
// the workloads and measures a fresh idle agent.
func (s *nodeSoak) setup() {
	e := s.e
	var err error
	if s.baseIDs, err = bpfobj.All(); err != nil {
		e.t.Fatal(err)
	}
	s.baseOrphan = s.baseIDs.Minus(bpfobj.HeldByAny())
	e.step("soak: baseline: %s in the kernel (%s held by no process)", s.baseIDs, s.baseOrphan)

	e.step("soak: kubectl gadget deploy (image %s)", *gadgetdImage)
	e.kg("deploy", "--wait-timeout", "2m")
	s.agent = e.agentPod("")
	s.pods[s.agent.Name] = 0

	e.step("soak: workloads in %s: server (Deployment, Service), client (Deployment, scaled 1..%d), sink and flood (%d UDP ports), dns and dns-client", soakNS, soakMaxScale, soakFloodUDP)
	e.kubectl("create", "namespace", soakNS)
	e.apply(deployment(soakNS, "server", "serve", "-tcp", fmt.Sprintf(":%d", tcpPort), "-udp", fmt.Sprintf(":%d", udpPort)))
	e.apply(service(soakNS, "server"))
	clusterIP := e.clusterIP(soakNS, "server")
	e.apply(pod(soakNS, "sink", false, "serve", "-udp", fmt.Sprintf(":%d", udpPort)))
	sink := e.waitPod(soakNS, "sink")
	e.apply(deployment(soakNS, "client", "client", "-tcp", fmt.Sprintf("%s:%d", clusterIP, svcPort), "-every", "200ms"))
	flood := []string{"client", "-every", "100ms"}
	for i := range soakFloodUDP {
		flood = append(flood, "-udp", fmt.Sprintf("%s:%d", sink.Status.PodIP, 20000+i))
	}
	e.apply(pod(soakNS, "flood", false, flood...))
	server := e.waitApp(soakNS, "server")
	e.apply(pod(soakNS, "dns", false, "dns", "-listen", ":53", "-name", dnsName, "-a", server.Status.PodIP, "-ttl", "1"))
	dns := e.waitPod(soakNS, "dns")
	e.apply(pod(soakNS, "dns-client", false, "client", "-resolver", dns.Status.PodIP+":53", "-resolve-every", "1s",
		"-every", "500ms", "-udp", fmt.Sprintf("%s:%d", dnsName, udpPort)))
	for _, p := range []string{"flood", "dns-client"} {
		e.waitPod(soakNS, p)
	}
	e.waitApp(soakNS, "client")

	// Prometheus's way to the metrics (docs/metrics.md): a token of a
	// service account bound to gadget-metrics-reader.
	e.kubectl("create", "namespace", soakMonNS)
	e.kubectl("create", "clusterrolebinding", "soak-prometheus-gadget-metrics", "--clusterrole=gadget-metrics-reader", "--serviceaccount="+soakMonNS+":prometheus")
	e.t.Cleanup(func() {
		e.try("kubectl", "delete", "clusterrolebinding", "soak-prometheus-gadget-metrics", "--ignore-not-found")
	})
	s.token = testenv.ServiceAccountToken(e.t, e.cs, soakMonNS, "prometheus")
	s.baseline = s.idle("baseline: a fresh agent, no trace")
}

// metrics scrapes the current agent's metrics over HTTPS with the token.
func (s *nodeSoak) metrics(podIP string) (metricstest.Families, error) {
	url := "https://" + net.JoinHostPort(podIP, "9442") + "/metrics"
	req, _ := http.NewRequestWithContext(s.e.ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the DaemonSet's certificate is self-signed
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s %.200s", url, resp.Status, body)
	}
	return metricstest.Parse(bytes.NewReader(body))
}

// currentAgent returns the Ready agent pod, nil when there is none.
func (s *nodeSoak) currentAgent() *corev1.Pod {
	list, err := s.e.cs.CoreV1().Pods(agentNS).List(s.e.ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=gadgetd"})
	if err != nil {
		return nil
	}
	for i := range list.Items {
		if ready(&list.Items[i]) {
			return &list.Items[i]
		}
	}
	return nil
}

// gadgetdPID is the PID of the one gadgetd process on the host, 0 when
// there is not exactly one.
func gadgetdPID() int {
	pids := gadgetdProcesses()
	if len(pids) != 1 {
		return 0
	}
	pid, _ := strconv.Atoi(pids[0])
	return pid
}

// idle waits until the agent's goroutine count is steady (three samples
// in a row, or 30 s) and measures it.
func (s *nodeSoak) idle(what string) idleAgent {
	e := s.e
	var id idleAgent
	var counts []int
	for range 30 {
		if a := s.currentAgent(); a != nil {
			if f, err := s.metrics(a.Status.PodIP); err == nil {
				g, _ := f.Value("go_goroutines", nil)
				h, ok := f.Value("go_gc_heap_live_bytes", nil)
				if !ok {
					h, _ = f.Value("go_memstats_heap_inuse_bytes", nil)
				}
				counts = append(counts, int(g))
				id.heapLive = h
				if n := len(counts); n >= 3 && counts[n-1] == counts[n-2] && counts[n-2] == counts[n-3] {
					break
				}
			} else {
				e.logf("metrics: %v", err)
			}
		}
		time.Sleep(time.Second)
	}
	if len(counts) == 0 {
		e.t.Fatalf("%s: the agent's metrics never answered", what)
	}
	id.goroutines = slices.Min(counts[max(0, len(counts)-3):])
	pid := gadgetdPID()
	id.rss = procstat.RSS(pid)
	var err error
	if id.bpf, err = bpfobj.Held(pid); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	e.step("soak: %s: %d goroutines, live heap %s, RSS %s, kernel objects held %s", what, id.goroutines, soaks.MiB(id.heapLive), soaks.MiB(float64(id.rss)), id.bpf)
	return id
}

// run is the soak's loop: one action at a time, at random, the flood, the
// clients and the readers going on meanwhile.
func (s *nodeSoak) run(d time.Duration) {
	e := s.e
	s.readCtx, s.stopRead = context.WithCancel(e.ctx)
	s.startSampler()
	e.step("soak: the long traces: network-graph and dns, each in Status and Stream mode; each stream read at once and slowly")
	for _, g := range []string{"network-graph", "dns"} {
		for _, mode := range []v1alpha1.OutputMode{v1alpha1.OutputModeStatus, v1alpha1.OutputModeStream} {
			name := fmt.Sprintf("soak-%s-%s", shortGadget(g), strings.ToLower(string(mode)))
			s.createTrace(name, g, mode, true)
		}
	}
	s.started = time.Now()
	end := s.started.Add(d)
	killUntil := s.started.Add(d / 2)
	every := min(max(d/8, 15*time.Second), 45*time.Second)
	nextKill := s.started.Add(every/2 + s.jitter(every))
	for i := 0; time.Now().Before(end) && e.ctx.Err() == nil; i++ {
		if now := time.Now(); now.After(nextKill) && now.Before(killUntil) {
			s.kill()
			nextKill = time.Now().Add(every/2 + s.jitter(every))
			continue
		}
		s.churnOnce(i)
		time.Sleep(500*time.Millisecond + s.jitter(time.Second))
	}
	s.ran = time.Since(s.started)
	if err := e.ctx.Err(); err != nil {
		e.t.Fatalf("soak interrupted: %v", err)
	}
}

func shortGadget(g string) string {
	if g == "network-graph" {
		return "ng"
	}
	return g
}

func (s *nodeSoak) churnOnce(i int) {
	churned := s.traces.Churned()
	switch a := s.rng.IntN(6); {
	case a == 0 && churned < soakMaxTraces, churned == 0:
		g := "network-graph"
		if s.rng.IntN(3) == 0 {
			g = "dns"
		}
		mode := v1alpha1.OutputModeStatus
		if s.rng.IntN(2) == 0 {
			mode = v1alpha1.OutputModeStream
		}
		s.createTrace(fmt.Sprintf("soak-churn-%d", i), g, mode, false)
	case a == 1:
		s.traces.Delete(s.traces.Pick())
	case a == 2:
		n := 1 + s.rng.IntN(soakMaxScale)
		s.e.kubectl("-n", soakNS, "scale", "deployment/client", "--replicas", strconv.Itoa(n))
		s.stats.scales++
	case a == 3:
		app := "client"
		if s.rng.IntN(2) == 0 {
			app = "server"
		}
		s.e.kubectl("-n", soakNS, "delete", "pod", "-l", "app="+app, "--wait=false")
		s.stats.podDeletes++
	default:
		if name := s.traces.Pick(); name != "" {
			s.traces.Restart(name)
		}
	}
}

// createTrace applies a Manual Trace of the soak's namespace and starts
// it with the operation annotation, as a user of the API would.
func (s *nodeSoak) createTrace(name, gadget string, mode v1alpha1.OutputMode, long bool) {
	e := s.e
	params := "{interval: 1s}"
	if gadget == "network-graph" && mode == v1alpha1.OutputModeStream {
		params = "{interval: 250ms}"
	}
	e.apply(fmt.Sprintf(`apiVersion: gadget.kinvolk.io/v1alpha1
kind: Trace
metadata: {name: %s, namespace: %s, labels: {gadget.kinvolk.io/session: %s}}
spec:
  node: %s
  gadget: %s
  filter: {namespace: %s}
  runMode: Manual
  outputMode: %s
  parameters: %s
`, name, agentNS, name, e.node, gadget, soakNS, mode, params))
	s.traces.Add(&soaks.Trace{Name: name, Gadget: gadget, Mode: mode, Long: long})
	if mode == v1alpha1.OutputModeStream {
		fast := s.addReader(name, gadget, false)
		if long {
			s.longReaders[name] = fast
			s.addReader(name, gadget, true)
		}
	}
}

// Operate sets the operation annotation of the Trace name to op and
// waits for its state (soaks.Driver).
func (s *nodeSoak) Operate(name, op, state string) {
	s.e.kubectl("annotate", "-n", agentNS, "trace/"+name, operation+"="+op, "--overwrite")
	s.e.waitTraceState(name, state)
}

// Delete deletes the Trace name and waits until it is gone: the agent
// removes its finalizer (soaks.Driver).
func (s *nodeSoak) Delete(name string) {
	start := time.Now()
	if out, err := s.e.try("kubectl", "delete", "-n", agentNS, "trace/"+name, "--wait=true", "--timeout=60s"); err != nil {
		s.fail("delete Trace %s: not gone within 60s (a finalizer hang?): %v\n%s", name, err, out)
	}
	s.e.logf("Trace %s deleted in %v", name, time.Since(start).Round(time.Millisecond))
}

// kill kills the agent: SIGKILL of its process from the host (the kubelet
// restarts the container) or its pod deleted at once (the DaemonSet
// creates another), then checks that what it held left the kernel and
// that every running trace resumed with a warning of what may be missing.
func (s *nodeSoak) kill() {
	e := s.e
	pid := gadgetdPID()
	if pid == 0 {
		s.fail("kill: not exactly one gadgetd process on the host: %v", gadgetdProcesses())
		return
	}
	held, err := bpfobj.Held(pid)
	if err != nil {
		e.t.Fatalf("kernel objects of gadgetd %d: %v", pid, err)
	}
	s.held.Add(held)
	s.nameProgs(held)
	runs := s.newRunLines()
	old := s.agent
	killAt := time.Now()
	// The first kill of a pod is a SIGKILL, the next its deletion: each
	// container then restarts once, without the kubelet's back-off.
	if s.pods[old.Name] == 0 {
		s.stats.sigkills++
		s.pods[old.Name]++
		e.step("soak: kill %d: SIGKILL gadgetd %d of pod %s, which holds %s", s.stats.sigkills+s.stats.podKills, pid, old.Name, held)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			e.t.Fatalf("kill %d: %v", pid, err)
		}
	} else {
		// No crash loop: the container restarted once per SIGKILL.
		if p, err := e.cs.CoreV1().Pods(agentNS).Get(e.ctx, old.Name, metav1.GetOptions{}); err == nil {
			s.checkRestarts(p)
		}
		s.stats.podKills++
		e.step("soak: kill %d: delete pod %s (--grace-period=0 --force), gadgetd %d holds %s", s.stats.sigkills+s.stats.podKills, old.Name, pid, held)
		e.kubectl("-n", agentNS, "delete", "pod", old.Name, "--grace-period=0", "--force", "--wait=false")
	}

	// What the agent held goes with it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		left, err := held.Alive()
		if err != nil {
			s.fail("kill: %v", err)
			break
		}
		if left.Count() == 0 {
			s.stats.objectsFreed += held.Count()
			break
		}
		if time.Now().After(deadline) {
			s.fail("kill: kernel objects of the killed gadgetd %d still exist 30s later: %s", pid, left)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The agent comes back: the same pod with one more restart, or a new pod.
	var back *corev1.Pod
	e.poll("gadgetd back after the kill", soakRestartTimeout, func() (bool, string) {
		a := s.currentAgent()
		if a == nil {
			return false, "no Ready gadgetd pod"
		}
		np := gadgetdPID()
		if np == 0 || np == pid {
			return false, fmt.Sprintf("pod %s Ready, gadgetd processes %v", a.Name, gadgetdProcesses())
		}
		back = a
		return true, ""
	})
	s.stats.restarts++
	if back.Name != old.Name {
		s.stats.newPods++
		s.pods[back.Name] = 0
	}
	s.agent = back
	at := time.Now()

	// Every running trace resumed, with a warning after the kill.
	killSec := killAt.Truncate(time.Second)
	resumed, failed := s.traces.WaitResumed(e.ctx, s.dyn, killSec, killSec, soakRestartTimeout, 250*time.Millisecond)
	s.stats.warningsChecked += resumed
	for _, f := range failed {
		s.fail("restart %d: trace %s not resumed with a warning within %v (a crash loop?): %s", s.stats.restarts, f[0], soakRestartTimeout, f[1])
	}
	// The long streams' readers are told of the gap.
	for wait := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		got := s.newRunLines()
		var behind []string
		var tails []string
		for n, c := range got {
			if c <= runs[n] {
				behind = append(behind, n)
				tails = append(tails, n+": "+tail(s.longReaders[n].errPath))
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(wait) {
			s.fail("restart %d: the readers of %v were not told that events between the two runs are missing: %s", s.stats.restarts, behind, strings.Join(tails, "; "))
			break
		}
	}
	s.upTimes = append(s.upTimes, time.Since(killAt))
	e.logf("soak: restart %d: pod %s, gadgetd %d; %d traces resumed with warnings %v after the kill (%v after the agent was back)",
		s.stats.restarts, back.Name, gadgetdPID(), resumed, time.Since(killAt).Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
}

// checkRestarts checks that the agent's container in pod p restarted once
// per SIGKILL, and counts its restarts.
func (s *nodeSoak) checkRestarts(p *corev1.Pod) {
	var restarts int
	for _, cs := range p.Status.ContainerStatuses {
		restarts += int(cs.RestartCount)
	}
	s.stats.containerRestarts += restarts
	if restarts != s.pods[p.Name] {
		s.fail("crash loop: the agent's container in pod %s restarted %d times, killed %d times", p.Name, restarts, s.pods[p.Name])
	}
}

// nameProgs remembers the names of the programs in ids, which a live
// agent holds (opening a program by ID is harmless; a map is not, see
// bpfobj.IDs.Alive).
func (s *nodeSoak) nameProgs(ids bpfobj.IDs) {
	for id := range ids.Progs {
		if name := progName(ebpf.ProgramID(id)); name != "?" {
			s.progNames[name] = true
		}
	}
}

// newRunLines counts, per long Stream trace, the lines of its fast reader
// saying it follows the trace's new run.
func (s *nodeSoak) newRunLines() map[string]int {
	out := map[string]int{}
	for n, r := range s.longReaders {
		b, _ := os.ReadFile(r.errPath)
		out[n] = strings.Count(string(b), "following its new run")
	}
	return out
}

// nodeReader runs kubectl gadget GADGET stream of one trace until the
// soak's readers stop; a slow one reads its output 2 KiB every 200 ms.
type nodeReader struct {
	name, errPath string
	slow          bool
	events, runs  int
}

func (s *nodeSoak) addReader(trace, gadget string, slow bool) *nodeReader {
	kind := "fast"
	if slow {
		kind = "slow"
	}
	r := &nodeReader{name: trace + "-" + kind, slow: slow,
		errPath: filepath.Join(s.e.tmp, fmt.Sprintf("reader-%d-%s-%s.stderr", len(s.readers), trace, kind))}
	s.readers = append(s.readers, r)
	s.readersWG.Add(1)
	go func() {
		defer s.readersWG.Done()
		errf, err := os.Create(r.errPath)
		if err != nil {
			s.e.t.Error(err)
			return
		}
		defer errf.Close()
		for s.readCtx.Err() == nil {
			r.runs++
			cmd := exec.CommandContext(s.readCtx, *kubectlGadget, gadget, "stream", "--name", trace, "-o", "jsonl")
			cmd.Env = append(os.Environ(), "KUBECONFIG="+s.e.kcfg)
			cmd.Stderr = errf
			out, err := cmd.StdoutPipe()
			if err != nil {
				s.e.t.Error(err)
				return
			}
			if err := cmd.Start(); err != nil {
				s.e.t.Error(err)
				return
			}
			br := bufio.NewReaderSize(out, 2048)
			buf := make([]byte, 2048)
			for {
				if slow {
					time.Sleep(200 * time.Millisecond)
					n, err := br.Read(buf)
					r.events += bytes.Count(buf[:n], []byte("\n"))
					if err != nil {
						break
					}
					continue
				}
				line, err := br.ReadBytes('\n')
				if len(line) > 0 {
					r.events++
				}
				if err != nil {
					break
				}
			}
			err = cmd.Wait()
			fmt.Fprintf(errf, "soak: reader ended: %v\n", err)
			if _, gone := s.dyn.Get(s.readCtx, trace, metav1.GetOptions{}); apierrors.IsNotFound(gone) {
				return
			}
			select {
			case <-s.readCtx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return r
}

// startSampler samples the agent's RSS (from /proc), goroutines, live
// heap and dropped batches (from its metrics) every 2 s.
func (s *nodeSoak) startSampler() {
	ctx, cancel := context.WithCancel(s.e.ctx)
	s.stopSmp, s.smpDone = cancel, make(chan struct{})
	go func() {
		defer close(s.smpDone)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (s *nodeSoak) sample() {
	rss := procstat.RSS(gadgetdPID())
	var g int
	var heap, dropped float64
	a := s.currentAgent()
	if a != nil {
		if f, err := s.metrics(a.Status.PodIP); err == nil {
			gv, _ := f.Value("go_goroutines", nil)
			g = int(gv)
			if h, ok := f.Value("go_gc_heap_live_bytes", nil); ok {
				heap = h
			} else {
				heap, _ = f.Value("go_memstats_heap_inuse_bytes", nil)
			}
			dropped, _ = f.Sum("gadget_stream_batches_dropped_total", nil)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rssPeak, s.grPeak, s.heapPeak = max(s.rssPeak, rss), max(s.grPeak, g), max(s.heapPeak, heap)
	if a != nil {
		s.dropped[a.Name+"/"+strconv.Itoa(gadgetdPID())] = max(s.dropped[a.Name+"/"+strconv.Itoa(gadgetdPID())], dropped)
	}
	if !s.started.IsZero() && *soakDuration > 0 {
		i := min(int(time.Since(s.started)*10 / *soakDuration), 9)
		if s.rssTenth == nil {
			s.rssTenth = make([]int64, 10)
		}
		s.rssTenth[i] = max(s.rssTenth[i], rss)
	}
}

// drain stops the readers, deletes every Trace and checks what is left.
func (s *nodeSoak) drain() {
	e := s.e
	e.step("soak: draining: readers stopped, every Trace deleted")
	if pid := gadgetdPID(); pid != 0 {
		if held, err := bpfobj.Held(pid); err == nil {
			s.held.Add(held)
			s.nameProgs(held)
		}
	}
	s.newRuns = 0
	for _, c := range s.newRunLines() {
		s.newRuns += c
	}
	s.stopRead()
	s.readersWG.Wait()
	for _, r := range s.readers {
		if r.slow {
			b, _ := os.ReadFile(r.errPath)
			s.warnMiss += strings.Count(string(b), "missed")
		}
	}
	for _, n := range s.traces.Names(false) {
		s.traces.Delete(n)
	}
	s.stopSmp()
	<-s.smpDone

	// No TCX program left in a pod's network namespace.
	nss, _ := filepath.Glob("/var/run/netns/cni-*")
	s.netnsSeen = len(nss)
	for _, ns := range nss {
		progs, err := tcxIn(ns)
		if err != nil {
			e.logf("TCX programs of %s: %v (the pod may be gone)", ns, err)
			continue
		}
		s.tcxLeft += len(progs)
		if len(progs) > 0 {
			s.fail("TCX programs left in %s after every Trace was deleted: %v", ns, progs)
		}
	}
	s.final = s.idle("end: the last agent, every Trace deleted")
	b, f := s.baseline, s.final
	if f.goroutines > b.goroutines+10 {
		s.fail("goroutine leak: %d goroutines after the soak, %d in a fresh idle agent", f.goroutines, b.goroutines)
	}
	if f.heapLive > 2*b.heapLive+32<<20 {
		s.fail("memory: live heap %s after the soak, %s in a fresh idle agent", soaks.MiB(f.heapLive), soaks.MiB(b.heapLive))
	}
	if f.bpf.Count() != b.bpf.Count() {
		s.fail("kernel objects: the idle agent holds %s after the soak, %s when fresh", f.bpf, b.bpf)
	}
	if s.rssPeak > soakRSSBound {
		s.fail("memory: the agent's RSS peaked at %s, over %s", soaks.MiB(float64(s.rssPeak)), soaks.MiB(soakRSSBound))
	}

	// No crash loop: the agent's container restarted once per SIGKILL.
	if a := s.currentAgent(); a != nil {
		s.checkRestarts(a)
	} else {
		s.fail("no Ready agent after the soak")
	}
	if s.stats.newPods != s.stats.podKills {
		s.fail("crash loop: %d new agent pods, %d deleted", s.stats.newPods, s.stats.podKills)
	}
	// Every batch the agent dropped for a slow reader was told to one.
	var dropped float64
	for _, v := range s.dropped {
		dropped += v
	}
	if dropped > 0 && s.warnMiss == 0 {
		s.fail("the agents dropped %v batches for slow readers, who were told of none", dropped)
	}
	e.logf("soak: readers told of %d new runs; %v batches dropped by the agents, %d missed-warnings to the slow readers", s.newRuns, dropped, s.warnMiss)
	e.kubectl("delete", "namespace", soakNS, soakMonNS, "--wait=true", "--timeout=2m")
}

// tcxIn lists the TCX programs of the interfaces of the network namespace
// at path.
func tcxIn(path string) ([]string, error) {
	var out []string
	err := inNetns(path, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifi := range ifs {
			for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
				res, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: at})
				if err != nil {
					return fmt.Errorf("%s %s: %w", ifi.Name, at, err)
				}
				for _, p := range res.Programs {
					out = append(out, fmt.Sprintf("%s %s prog %d", ifi.Name, at, p.ID))
				}
			}
		}
		return nil
	})
	return out, err
}

// inNetns runs fn on a thread in the network namespace at path; the
// thread is not reused.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// undeploy removes gadgetd and checks the kernel: no object any agent
// held, and no new object held by nobody named as the agents' programs.
func (s *nodeSoak) undeploy() {
	e := s.e
	e.step("soak: kubectl gadget undeploy; the kernel's objects against the baseline")
	e.kg("undeploy", "--wait-timeout", "2m")
	e.poll("namespace gadget gone and gadgetd stopped", 2*time.Minute, func() (bool, string) {
		_, err := e.cs.CoreV1().Namespaces().Get(e.ctx, agentNS, metav1.GetOptions{})
		procs := gadgetdProcesses()
		return apierrors.IsNotFound(err) && len(procs) == 0, fmt.Sprintf("namespace: %v; gadgetd processes: %v", err, procs)
	})
	var left bpfobj.IDs
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		var err error
		if left, err = s.held.Alive(); err != nil {
			s.fail("%v", err)
		}
		if left.Count() == 0 || time.Now().After(deadline) {
			break
		}
	}
	s.leftHeld = left.Count()
	if left.Count() > 0 {
		s.fail("kernel objects leaked: %s of the %s the agents held are still in the kernel: %s", left, s.held, left.Describe())
	}
	// Objects created since the baseline that no process holds: another
	// test on the machine may leave some (a pinned map, a program attached
	// by a process that exited); a program named as one the agents ran is
	// the agents' leak. Programs only are opened to read their names.
	all, err := bpfobj.All()
	if err != nil {
		s.fail("%v", err)
	}
	s.afterAll = all
	orphan := all.Minus(s.baseIDs).Minus(bpfobj.HeldByAny())
	for id := range orphan.Progs {
		name := progName(ebpf.ProgramID(id))
		s.orphans = append(s.orphans, fmt.Sprintf("program %d %s", id, name))
		if s.progNames[name] {
			s.fail("kernel objects leaked: program %d %s, held by no process, is one of the agents' programs", id, name)
		}
	}
	if orphan.Count() > 0 {
		e.logf("soak: new kernel objects held by no process (another test's, or pending frees): %s: %v", orphan, s.orphans)
	}
	e.logf("soak: the agents' program names: %v", keys(s.progNames))
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// report writes the soak's figures as a markdown section.
func (s *nodeSoak) report() {
	st := s.stats
	result := "PASS"
	if s.e.t.Failed() {
		result = fmt.Sprintf("**FAIL**: %s", strings.Join(s.failures, "; "))
	}
	var dropped float64
	for _, v := range s.dropped {
		dropped += v
	}
	var tenths []string
	for _, v := range s.rssTenth {
		if v == 0 {
			tenths = append(tenths, "-")
		} else {
			tenths = append(tenths, fmt.Sprintf("%.0f", float64(v)/(1<<20)))
		}
	}
	var events, runs int
	for _, r := range s.readers {
		events, runs = events+r.events, runs+r.runs
	}
	rows := [][2]string{
		{"duration", fmt.Sprintf("%v of churn, then drained (seed %d)", s.ran.Round(time.Second), s.seed)},
		{"traces", s.traces.Summary() + " (none hung on its finalizer)"},
		{"workload churn", fmt.Sprintf("%d scalings of Deployment client (1..%d), %d pod deletions; a flood to %d UDP ports", st.scales, soakMaxScale, st.podDeletes, soakFloodUDP)},
		{"agent killed: SIGKILL from the host / pod deleted (force)", fmt.Sprintf("%d / %d", st.sigkills, st.podKills)},
		{"agent restarts: container restarts / new pods", fmt.Sprintf("%d / %d", st.containerRestarts, st.newPods)},
		{"kill until every trace resumed with its warning", soaks.Spread(s.upTimes, 100*time.Millisecond, "no kill")},
		{"resume warnings checked (restarted at, what may be missing)", strconv.Itoa(st.warningsChecked)},
		{"stream readers told of the gap (new run lines)", strconv.Itoa(s.newRuns)},
		{"stream readers", fmt.Sprintf("%d (fast and slow), %d connections, %d events", len(s.readers), runs, events)},
		{"batches dropped for slow readers: agents counted / warnings to readers", fmt.Sprintf("%.0f / %d", dropped, s.warnMiss)},
		{"kernel objects freed with the killed agents", strconv.Itoa(st.objectsFreed)},
		{"agent RSS: fresh / peak / end", fmt.Sprintf("%s / %s / %s (bound %s, limit 512 MiB)", soaks.MiB(float64(s.baseline.rss)), soaks.MiB(float64(s.rssPeak)), soaks.MiB(float64(s.final.rss)), soaks.MiB(soakRSSBound))},
		{"agent RSS over the run, MiB (peak of each tenth)", strings.Join(tenths, " ")},
		{"goroutines: fresh / peak / end", fmt.Sprintf("%d / %d / %d", s.baseline.goroutines, s.grPeak, s.final.goroutines)},
		{"live heap: fresh / peak / end", fmt.Sprintf("%s / %s / %s", soaks.MiB(s.baseline.heapLive), soaks.MiB(s.heapPeak), soaks.MiB(s.final.heapLive))},
		{"BPF objects the agent holds idle: fresh / end", fmt.Sprintf("%s / %s", s.baseline.bpf, s.final.bpf)},
		{"BPF objects in the kernel: before deploy / after undeploy", fmt.Sprintf("%s / %s", s.baseIDs, s.afterAll)},
		{"kernel objects the agents held / left after undeploy", fmt.Sprintf("%s / %d", s.held, s.leftHeld)},
		{"TCX programs left in pods' network namespaces", fmt.Sprintf("%d (%d namespaces)", s.tcxLeft, s.netnsSeen)},
		{"result", result},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### Soak on a real node\n\n", soakBegin)
	fmt.Fprintf(&b, "`sudo make soak-node SOAK_DURATION=%v` (`TestSoakNode` in test/e2enode, on the real single-node cluster of\n", *soakDuration)
	b.WriteString("`make e2e-node`: kubelet, containerd, CNI bridge, gadgetd from its image as the shipped DaemonSet) runs, through the\n" +
		"API: Traces of network-graph and dns in both output modes created, started, stopped and deleted; workload pods\n" +
		"churned (a Deployment scaled, pods deleted) with real traffic and a UDP flood; stream readers that read at once\n" +
		"and slowly; and the agent killed at random in the first half, by SIGKILL of its process from the host (the kubelet\n" +
		"restarts the container) or by deleting its pod (the DaemonSet makes a new one). It fails on a crash loop (restarts\n" +
		"other than one per kill, a trace not resumed within 2 min), on a loss not reported (a resumed trace without a\n" +
		"warning of its restart and what may be missing, a stream reader not told of the gap), and on a leak: kernel objects\n" +
		"of a killed agent left, TCX programs left in pods' network namespaces, goroutines or live heap above a fresh idle\n" +
		"agent's once every Trace is deleted, or objects of the agents left after undeploy (walking the kernel's ID lists;\n" +
		"objects other processes hold are left out). CI runs it for 60 s (`.ci/run`, `make soak-node SOAK_DURATION=60s`).\n\n")
	fmt.Fprintf(&b, "Run: %s, commit %s, on the machine above (shared, 2 cores).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), soaks.Commit())
	b.WriteString(soaks.Table(rows))
	fmt.Fprintf(&b, "%s\n", soakEnd)
	s.e.t.Logf("soak figures:\n%s", b.String())
	if *soakReport != "" {
		if err := os.WriteFile(*soakReport, []byte(b.String()), 0o644); err != nil {
			s.e.t.Errorf("write %s: %v", *soakReport, err)
		}
	}
}
