//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/gadgetkit/gadget/api/v1alpha1"
	"github.com/gadgetkit/gadget/internal/testenv"
	"github.com/gadgetkit/gadget/test/internal/bpfobj"
	"github.com/gadgetkit/gadget/test/internal/procstat"
	"github.com/gadgetkit/gadget/test/internal/soaks"
)

var (
	soakDuration = flag.Duration("soak-duration", 0,
		"run TestSoak for this long (make soak sets it from SOAK_DURATION); 0 skips TestSoak")
	soakReport = flag.String("soak-report", "", "TestSoak writes its figures as a markdown section to this file")
	soakSeed   = flag.Uint64("soak-seed", 0, "seed of TestSoak's random schedule; 0 picks one (the test prints it)")
)

// The soak's namespace of pods, and the limits of its churn.
const (
	soakNS         = "soak"
	soakMaxTraces  = 3 // churned Traces at once, besides the two long ones
	soakMaxPods    = 4 // churned pods at once, besides server and flood
	soakFloodPorts = 400
	soakTCPPorts   = 200
	// soakRestartTimeout bounds how long a restarted agent may take to
	// resume every started trace and renew its heartbeat: longer is a
	// crash loop (or as bad as one).
	soakRestartTimeout = 60 * time.Second
)

// TestSoak runs the agent for -soak-duration under everything at once, on
// the simulated node: Traces (Status and Stream) created, started, stopped
// and deleted; pods (network namespaces and their Pod objects) created and
// deleted; a UDP and TCP flood to hundreds of ports from one pod; stream
// readers that read at once, slowly, or stall for seconds; and gadgetd
// killed with SIGKILL at random times during the first half of the
// run and restarted at once, as its DaemonSet would. It checks:
//
//   - no crash loop: gadgetd never exits unless killed, and each restart
//     resumes every started trace and renews its heartbeat within
//     soakRestartTimeout;
//   - every loss reported: after each kill, every trace that ran says in
//     status.operationWarning that the agent restarted, at a time after
//     the kill, and what may be missing; every batch the agent dropped
//     for a slow stream reader (its log counts them per reader) reached
//     that reader as a warn event;
//   - no leak: the kernel objects (BPF programs, maps, links) every agent
//     held are gone once it is killed or its traces are deleted, no TCX
//     program is left on the pods' interfaces, no thread of gadgetd is
//     left in a pod's network namespace and it holds no namespace open;
//     once everything is deleted, gadgetd's goroutines and live heap are
//     back to those of a fresh idle agent.
//
// It prints its figures (and writes them to -soak-report: make soak puts
// them into docs/benchmarks.md).
func TestSoak(t *testing.T) {
	if *soakDuration <= 0 {
		t.Skip("the soak runs only with -soak-duration: make soak (SOAK_DURATION=5m)")
	}
	bin, assets := e2eSetup(t, "make soak")
	ctx, cancel := e2eContext(*soakDuration + 6*time.Minute)
	defer cancel()

	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &soak{t: t, ctx: ctx, bin: bin, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), seed: seed,
		pods: map[string]*soakPod{}}
	s.traces = soaks.NewTraces(s, s.rng)
	s.logf("seed %d (rerun with -soak-seed %d), duration %v", seed, seed, *soakDuration)
	s.setup(assets)
	s.run(*soakDuration)
	s.drain()
	s.check()
	s.report()
}

// soak is the state of TestSoak. Only the test's goroutine calls its
// methods, except those of the flood, the readers and the sampler.
type soak struct {
	t    *testing.T
	ctx  context.Context
	bin  string
	rng  *rand.Rand
	seed uint64
	c    cluster
	dyn  dynamic.ResourceInterface // Traces of namespace gadget

	metricsAddr, streamAddr, debugAddr, ckptDir string
	agent                                       *gadgetdProcess
	agents                                      []*gadgetdProcess // every incarnation, for their logs
	pid                                         atomic.Int64
	hostNetns                                   string // gadgetd's network namespace

	server, flood *testenv.Netns
	serverIPs     []string // the server's end of each pod's veth
	floodIP       string   // the flood's target
	subnetBase    int
	subnets       int
	traces        *soaks.Traces
	pods          map[string]*soakPod
	readers       []*soakReader
	readersWG     sync.WaitGroup
	stopReaders   context.CancelFunc
	readersCtx    context.Context
	stopFlood     context.CancelFunc
	floodDone     chan struct{}
	floodSent     atomic.Int64
	floodTCP      atomic.Int64

	sampler    *soakSampler
	baseline   soakIdle
	final      soakIdle
	heldIDs    bpfobj.IDs // every kernel object any agent held
	started    time.Time
	ran        time.Duration
	stats      soakStats
	restartsUp []time.Duration // time from each restart until every trace resumed
	failures   []string        // checks that failed, for the report
	// readerStats and leftObjects are check's figures for the report.
	readerStats readerFigures
	leftObjects int
}

type soakStats struct {
	podsCreated, podsDeleted, kills, restarts, unexpectedExits, warningsChecked int
	objectsFreedAfterKill                                                       int
}

type soakPod struct {
	name     string
	ns       *testenv.Netns
	ip       string
	serverIP string // the server pod's end of its veth
	inode    uint64
}

func (s *soak) logf(format string, args ...any) { s.t.Helper(); s.t.Logf("soak: "+format, args...) }

// fail records a failed check: the test fails and the report says so.
func (s *soak) fail(format string, args ...any) {
	s.t.Helper()
	msg := fmt.Sprintf(format, args...)
	s.failures = append(s.failures, msg)
	s.t.Error("soak: " + msg)
}

func (s *soak) setup(assets string) {
	t := s.t
	s.logf("starting kube-apiserver and etcd, applying the CRD, admission policy, namespace and RBAC")
	s.c = startCluster(s.ctx, t, assets)
	s.dyn = s.c.dyn.Resource(traceGVR).Namespace("gadget")
	createNamespace(s.ctx, t, s.c.cs, soakNS)

	subnets := randomSubnets(t)
	// Any start: the churned pods take the next /24s of 10.213.0.0/16.
	s.subnetBase, _ = strconv.Atoi(strings.TrimPrefix(subnets[0], "10.210."))
	s.server, s.flood = testenv.NewNetns(t, "soak-server"), testenv.NewNetns(t, "soak-flood")
	floodIP, serverIP := vethPair(t, s.flood, s.server, subnets[0])
	s.floodIP = serverIP
	s.serverIPs = append(s.serverIPs, serverIP)
	createPod(s.ctx, t, s.c.cs, soakNS, "server", serverIP)
	createPod(s.ctx, t, s.c.cs, soakNS, "flood", floodIP)
	s.echoServer()

	s.ckptDir = t.TempDir()
	s.metricsAddr = freeAddr(t, "127.0.0.1")
	s.streamAddr = freeAddr(t, "127.0.0.1")
	s.debugAddr = freeAddr(t, "127.0.0.1")
	s.startAgent()
	s.hostNetns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/net", s.pid.Load()))
	s.sampler = newSoakSampler(s)
	s.waitMetrics()
	s.baseline = s.idle("baseline: a fresh agent, no trace")
	s.heldIDs = bpfobj.New()
}

// echoServer answers TCP on every address of the server pod, port
// serverPort, so that the churned pods' connections are real ones.
func (s *soak) echoServer() {
	var l net.Listener
	if err := s.server.Do(func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", serverPort))
		return err
	}); err != nil {
		s.t.Fatalf("listen in the server pod: %v", err)
	}
	s.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 512)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// gadgetdArgs are the flags of every incarnation: the same checkpoint
// folder and listen addresses, as a DaemonSet's pod keeps them.
func (s *soak) gadgetdArgs() []string {
	return []string{"--checkpoint-dir", s.ckptDir, "--heartbeat-interval", "1s",
		"--metrics-bind-address", s.metricsAddr, "--stream-bind-address", s.streamAddr, "--debug-bind-address", s.debugAddr,
		"--log-level", "info"}
}

func (s *soak) startAgent() {
	a := startGadgetdProcess(s.t, s.bin, s.c.agentKubeconfig, s.gadgetdArgs()...)
	s.agent = a
	s.agents = append(s.agents, a)
	s.pid.Store(int64(a.cmd.Process.Pid))
	// Cleanups run last in first out: this one before the SIGTERM of
	// startGadgetdProcess's, so a stuck agent shows where it is stuck.
	s.t.Cleanup(func() {
		if s.t.Failed() && !a.killed {
			s.dumpGoroutines()
		}
	})
}

// waitMetrics waits until the agent's metrics endpoint answers.
func (s *soak) waitMetrics() {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	poll(ctx, s.t, "gadgetd's metrics endpoint", func() (bool, string) {
		m, err := scrapeMetrics(s.metricsAddr)
		if err != nil {
			return false, err.Error()
		}
		return m.goroutines > 0, "no go_goroutines"
	})
}

// run is the soak's main loop: one action at a time, chosen at random,
// with the flood and the stream readers going on in the background.
func (s *soak) run(d time.Duration) {
	s.readersCtx, s.stopReaders = context.WithCancel(s.ctx)
	floodCtx, stopFlood := context.WithCancel(s.ctx)
	s.stopFlood, s.floodDone = stopFlood, make(chan struct{})
	go s.runFlood(floodCtx)
	s.sampler.start()

	s.logf("the long traces: soak-status (Status) and soak-stream (Stream, read by a fast, a slow and a stalling reader)")
	s.createTrace("soak-status", v1alpha1.OutputModeStatus, true)
	s.createTrace("soak-stream", v1alpha1.OutputModeStream, true)
	for _, kind := range []string{readerFast, readerSlow, readerStall} {
		s.addReader("soak-stream", kind)
	}

	s.started = time.Now()
	end := s.started.Add(d)
	// Kills stop halfway: the last agent then lives through half of the
	// churn before its leaks are counted, and a stalled reader stays
	// connected long enough to fall behind.
	killUntil := s.started.Add(d / 2)
	every := min(max(d/8, 10*time.Second), 45*time.Second)
	nextKill := s.started.Add(every/2 + s.jitter(every))
	churn := 0
	for time.Now().Before(end) && s.ctx.Err() == nil {
		s.checkAlive()
		now := time.Now()
		if now.After(nextKill) && now.Before(killUntil) {
			s.killAndRestart()
			nextKill = time.Now().Add(every/2 + s.jitter(every))
			continue
		}
		s.churnOnce(churn)
		churn++
		select {
		case <-s.ctx.Done():
		case <-time.After(300*time.Millisecond + s.jitter(700*time.Millisecond)):
		}
	}
	s.ran = time.Since(s.started)
	if err := s.ctx.Err(); err != nil {
		s.t.Fatalf("soak interrupted: %v", err)
	}
}

// jitter returns a random duration in [0, d).
func (s *soak) jitter(d time.Duration) time.Duration { return time.Duration(s.rng.Int64N(int64(d))) }

// churnOnce does one action on the traces or the pods.
func (s *soak) churnOnce(i int) {
	churned := s.traces.Churned()
	switch a := s.rng.IntN(6); {
	case a == 0 && churned < soakMaxTraces, churned == 0:
		mode := v1alpha1.OutputModeStatus
		if s.rng.IntN(2) == 0 {
			mode = v1alpha1.OutputModeStream
		}
		name := fmt.Sprintf("soak-churn-%d", i)
		s.createTrace(name, mode, false)
		if mode == v1alpha1.OutputModeStream {
			s.addReader(name, readerFast)
			s.addReader(name, readerSlow)
		}
	case a == 1:
		s.traces.Delete(s.traces.Pick())
	case a == 2 && len(s.pods) < soakMaxPods, len(s.pods) == 0:
		s.createChurnPod(fmt.Sprintf("churn-%d", i))
	case a == 3:
		s.deletePod(s.pickPod())
	case a == 4:
		// Traffic from a churned pod, so that its edges come and go.
		if p := s.pickPod(); p != nil {
			echoTCPOnce(s.t, p.ns, p.serverIP, p)
		}
	default:
		// A churned trace stopped and started again: a new run.
		if name := s.traces.Pick(); name != "" {
			s.traces.Restart(name)
		}
	}
}

func (s *soak) pickPod() *soakPod {
	var names []string
	for n := range s.pods {
		names = append(names, n)
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return s.pods[names[s.rng.IntN(len(names))]]
}

// createTrace creates a Manual trace of the soak's pods and starts it.
func (s *soak) createTrace(name string, mode v1alpha1.OutputMode, long bool) {
	t := s.t
	u := exampleTrace(t)
	u.SetName(name)
	u.SetNamespace("gadget")
	must(t, unstructured.SetNestedField(u.Object, string(mode), "spec", "outputMode"))
	must(t, unstructured.SetNestedField(u.Object, soakNS, "spec", "filter", "namespace"))
	// The long Stream trace emits a batch every 100 ms (the shortest
	// interval), so that a stalled reader falls behind the agent's buffer
	// of batches within seconds.
	interval := "1s"
	switch {
	case mode == v1alpha1.OutputModeStream && long:
		interval = "100ms"
	case mode == v1alpha1.OutputModeStream:
		interval = "250ms"
	}
	must(t, unstructured.SetNestedStringMap(u.Object, map[string]string{"interval": interval}, "spec", "parameters"))
	if _, err := s.dyn.Create(s.ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Trace %s: %v", name, err)
	}
	s.traces.Add(&soaks.Trace{Name: name, Gadget: "network-graph", Mode: mode, Long: long})
}

// Operate sets the operation annotation of the Trace name to op and
// waits for its state (soaks.Driver).
func (s *soak) Operate(name, op, state string) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	annotate(ctx, s.t, s.dyn, name, op)
	waitState(ctx, s.t, s.dyn, name, state)
}

// Delete deletes the Trace name and waits until it is gone
// (soaks.Driver).
func (s *soak) Delete(name string) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	if err := s.dyn.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		s.t.Fatalf("delete Trace %s: %v", name, err)
	}
	poll(ctx, s.t, "Trace "+name+" gone (the agent removes its finalizer)", func() (bool, string) {
		_, err := s.dyn.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// createChurnPod creates a network namespace joined to the server pod by
// a veth, then its Pod object.
func (s *soak) createChurnPod(name string) {
	ns := testenv.NewNetns(s.t, "soak-churn")
	subnet := fmt.Sprintf("10.213.%d", (s.subnetBase+s.subnets)%256)
	s.subnets++
	ip, serverIP := vethPair(s.t, ns, s.server, subnet)
	s.serverIPs = append(s.serverIPs, serverIP)
	var st syscall.Stat_t
	if err := syscall.Stat(ns.Path(), &st); err != nil {
		s.t.Fatal(err)
	}
	createPod(s.ctx, s.t, s.c.cs, soakNS, name, ip)
	p := &soakPod{name: name, ns: ns, ip: ip, serverIP: serverIP, inode: st.Ino}
	s.pods[name] = p
	s.stats.podsCreated++
	echoTCPOnce(s.t, ns, serverIP, p)
}

// deletePod deletes a churned pod: its Pod object and its network
// namespace, in either order (a namespace can go before the API server
// says its pod did).
func (s *soak) deletePod(p *soakPod) {
	if p == nil {
		return
	}
	zero := int64(0)
	delPod := func() {
		if err := s.c.cs.CoreV1().Pods(soakNS).Delete(s.ctx, p.name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			s.t.Fatalf("delete pod %s/%s: %v", soakNS, p.name, err)
		}
	}
	delNetns := func() { run(s.t, "ip", "netns", "del", p.ns.Name()) }
	if s.rng.IntN(2) == 0 {
		delPod()
		delNetns()
	} else {
		delNetns()
		delPod()
	}
	delete(s.pods, p.name)
	s.stats.podsDeleted++
}

// echoTCPOnce opens one connection from the pod to the server pod's echo
// server at ip; a failure is logged only (the pod may be going).
func echoTCPOnce(t *testing.T, from *testenv.Netns, ip string, p *soakPod) {
	var c net.Conn
	err := from.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", net.JoinHostPort(ip, strconv.Itoa(serverPort)), 2*time.Second)
		return err
	})
	if err != nil {
		t.Logf("soak: pod %s: connection to %s: %v", p.name, ip, err)
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte("soak\n"))
	_, _ = c.Read(make([]byte, 16))
}

// runFlood sends UDP to soakFloodPorts ports and opens TCP connections to
// soakTCPPorts closed ports of the server pod, from the flood pod, until
// ctx ends: hundreds of edges whose counters move in every interval.
func (s *soak) runFlood(ctx context.Context) {
	defer close(s.floodDone)
	var pc net.PacketConn
	if err := s.flood.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", ":0")
		return err
	}); err != nil {
		s.t.Errorf("soak: flood socket: %v", err)
		return
	}
	defer pc.Close()
	dst := net.ParseIP(s.floodIP)
	payload := make([]byte, 64)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	port := 0
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for range 20 { // 2000 datagrams a second
			if _, err := pc.WriteTo(payload, &net.UDPAddr{IP: dst, Port: 20000 + port%soakFloodPorts}); err == nil {
				s.floodSent.Add(1)
			}
			port++
		}
		if n%10 == 0 { // 10 connection attempts a second, refused
			_ = s.flood.Do(func() error {
				c, err := net.DialTimeout("tcp4", net.JoinHostPort(s.floodIP, strconv.Itoa(30000+n/10%soakTCPPorts)), 100*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return nil
			})
			s.floodTCP.Add(1)
		}
	}
}

// checkAlive fails the soak when gadgetd exited on its own, and restarts
// it as the DaemonSet would.
func (s *soak) checkAlive() {
	select {
	case err := <-s.agent.exited:
		s.stats.unexpectedExits++
		s.fail("gadgetd (pid %d) exited on its own: %v; log:\n%s", s.agent.cmd.Process.Pid, err, s.agentLog(s.agent, 60))
		s.agent.killed = true // its cleanup must not wait for it
		s.restart(time.Now())
	default:
	}
}

func (s *soak) agentLog(a *gadgetdProcess, lines int) string {
	b, _ := os.ReadFile(a.log)
	return tail(string(b), lines)
}

// killAndRestart kills gadgetd with SIGKILL, checks that the kernel
// objects it held went with it, restarts it, and checks that every trace
// that ran resumed with a warning saying what may be missing.
func (s *soak) killAndRestart() {
	pid := int(s.pid.Load())
	held, err := bpfobj.Held(pid)
	if err != nil {
		s.t.Fatalf("kernel objects of gadgetd %d: %v", pid, err)
	}
	s.heldIDs.Add(held)
	killAt := time.Now()
	s.stats.kills++
	s.logf("kill %d: SIGKILL gadgetd %d, which holds %s", s.stats.kills, pid, held)
	s.agent.kill(s.t)
	s.sampler.sampleNow() // the RSS of the dead agent is not sampled again

	// A killed process's links, programs and maps are freed when its last
	// file descriptor closes; none of them may outlive it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		left, err := held.Alive()
		if err != nil {
			s.fail("kill %d: %v", s.stats.kills, err)
			break
		}
		if left.Count() == 0 {
			s.stats.objectsFreedAfterKill += held.Count()
			break
		}
		if time.Now().After(deadline) {
			s.fail("kill %d: kernel objects of the killed gadgetd %d still exist 15s later: %s: %s", s.stats.kills, pid, left, left.Describe())
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Restart within a second, as the kubelet restarts a container.
	time.Sleep(s.jitter(time.Second))
	s.restart(killAt)
}

// restart starts gadgetd again and waits until every running trace is
// resumed: AgentReady True, renewed by the new agent, and a warning that
// says the agent restarted after lost, and what may be missing.
func (s *soak) restart(lost time.Time) {
	s.stats.restarts++
	s.startAgent()
	at := time.Now()
	resumed, failed := s.traces.WaitResumed(s.ctx, s.dyn, at.Truncate(time.Second), lost.Truncate(time.Second), soakRestartTimeout, 200*time.Millisecond)
	s.stats.warningsChecked += resumed
	for _, f := range failed {
		s.fail("restart %d: trace %s not resumed with a warning within %v (a crash loop?): %s; agent log:\n%s",
			s.stats.restarts, f[0], soakRestartTimeout, f[1], s.agentLog(s.agent, 40))
	}
	if len(failed) > 0 {
		return
	}
	s.restartsUp = append(s.restartsUp, time.Since(at))
	s.logf("restart %d: gadgetd %d resumed %d traces in %v", s.stats.restarts, s.pid.Load(), resumed, time.Since(at).Round(time.Millisecond))
}

// drain ends everything the soak started but the agent: the flood, the
// readers, the traces and the churned pods.
func (s *soak) drain() {
	s.logf("draining: flood and readers stopped, every trace and churned pod deleted")
	s.stopFlood()
	<-s.floodDone
	s.stopReaders()
	s.readersWG.Wait()
	// What the last agent held at its busiest is checked too.
	if held, err := bpfobj.Held(int(s.pid.Load())); err == nil {
		s.heldIDs.Add(held)
	}
	for _, n := range s.traces.Names(false) {
		s.traces.Delete(n)
	}
	for _, p := range s.pods {
		s.deletePod(p)
	}
	s.sampler.stop()
	s.final = s.idle("end: the last agent after the soak, every trace deleted")
}

// soakIdle is what an idle agent holds.
type soakIdle struct {
	goroutines     int
	heapLive       float64 // bytes live after the last GC
	rss            int64
	fds, threads   int
	bpf            bpfobj.IDs
	netnsFDs       []string
	foreignThreads []string // threads not in gadgetd's own network namespace
}

// idle waits until gadgetd's goroutine count is steady (the same three
// seconds in a row, or 20 s) and measures it, its live heap after a GC.
func (s *soak) idle(what string) soakIdle {
	pid := int(s.pid.Load())
	var counts []int
	var m soakMetrics
	for range 20 {
		var err error
		m, err = s.scrapeAfterGC()
		if err != nil {
			s.t.Fatalf("%s: metrics: %v", what, err)
		}
		counts = append(counts, m.goroutines)
		if n := len(counts); n >= 3 && counts[n-1] == counts[n-2] && counts[n-2] == counts[n-3] {
			break
		}
		time.Sleep(time.Second)
	}
	var id soakIdle
	id.goroutines, id.heapLive = slices.Min(counts[max(0, len(counts)-3):]), m.heapLive
	id.rss = procstat.RSS(pid)
	var err error
	if id.bpf, err = bpfobj.Held(pid); err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	id.fds, id.netnsFDs = fdsOf(pid)
	id.threads, id.foreignThreads = threadsOutside(pid, s.hostNetns)
	s.logf("%s: %d goroutines, live heap %s, RSS %s, %d fds, %d threads, kernel objects %s",
		what, id.goroutines, soaks.MiB(id.heapLive), soaks.MiB(float64(id.rss)), id.fds, id.threads, id.bpf)
	return id
}

// check compares the end with the baseline and checks the readers.
func (s *soak) check() {
	b, f := s.baseline, s.final
	// Goroutines: a fresh agent's, give or take the few a client keeps
	// for a while (an HTTP/2 connection to the API server, a watch).
	if f.goroutines > b.goroutines+10 {
		s.fail("goroutine leak: %d goroutines after the soak, %d in a fresh idle agent", f.goroutines, b.goroutines)
	}
	if f.heapLive > 2*b.heapLive+32<<20 {
		s.fail("memory: live heap %s after the soak, %s in a fresh idle agent", soaks.MiB(f.heapLive), soaks.MiB(b.heapLive))
	}
	if f.bpf.Count() != b.bpf.Count() {
		s.fail("kernel objects: the idle agent holds %s after the soak, %s when fresh", f.bpf, b.bpf)
	}
	// Everything any agent held during the soak, but what the last one
	// holds idle, must be gone from the kernel.
	past := s.heldIDs.Minus(f.bpf)
	var left bpfobj.IDs
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if left, err = past.Alive(); err != nil {
			s.fail("kernel objects after the soak: %v", err)
			break
		}
		if left.Count() == 0 || time.Now().After(deadline) {
			break
		}
	}
	s.leftObjects = left.Count()
	if left.Count() > 0 {
		s.fail("kernel objects leaked: %s of the %s the agents held are still in the kernel: %s", left, past, left.Describe())
	}
	if len(f.netnsFDs) > len(b.netnsFDs) {
		s.fail("network namespaces held open by gadgetd after the soak: %v (fresh: %v)", f.netnsFDs, b.netnsFDs)
	}
	if len(f.foreignThreads) > 0 {
		s.fail("threads of gadgetd left in another network namespace: %v", f.foreignThreads)
	}
	for _, ns := range []*testenv.Netns{s.server, s.flood} {
		if progs, err := tcxPrograms(ns); err != nil {
			s.fail("TCX programs in pod %s: %v", ns.Name(), err)
		} else if len(progs) > 0 {
			s.fail("TCX programs left on the interfaces of %s after every trace was deleted: %v", ns.Name(), progs)
		}
	}
	s.checkReaders()
}

// dumpGoroutines prints the agent's goroutines, grouped by stack.
func (s *soak) dumpGoroutines() {
	resp, err := metricsClient.Get("http://" + s.debugAddr + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		s.t.Logf("goroutine dump: %v", err)
		return
	}
	defer resp.Body.Close()
	s.t.Logf("goroutines of the last agent:\n%s", readAllLimited(resp.Body, 1<<20))
}

// scrapeAfterGC has the agent collect its garbage (a heap profile with
// gc=1), then reads its metrics: the live heap is then the heap in use.
func (s *soak) scrapeAfterGC() (soakMetrics, error) {
	resp, err := metricsClient.Get("http://" + s.debugAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return soakMetrics{}, fmt.Errorf("heap profile: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return scrapeMetrics(s.metricsAddr)
}

// mib formats bytes as MiB.

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tcxPrograms lists the TCX programs attached to the interfaces of ns.
func tcxPrograms(ns *testenv.Netns) ([]string, error) {
	var out []string
	err := ns.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifi := range ifs {
			for _, dir := range []string{"ingress", "egress"} {
				ids, err := queryTCX(ifi.Index, dir == "ingress")
				if err != nil {
					return fmt.Errorf("%s %s: %w", ifi.Name, dir, err)
				}
				for _, id := range ids {
					out = append(out, fmt.Sprintf("%s %s prog %d", ifi.Name, dir, id))
				}
			}
		}
		return nil
	})
	return out, err
}
