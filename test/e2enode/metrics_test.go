//go:build e2enode

package e2enode

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gadgetkit/gadget/framework/metrics/metricstest"
)

// checkMetrics scrapes the agent's metrics the way docs/metrics.md tells
// Prometheus to: the headless Service gadgetd-metrics lists the agent,
// whose port 9442 serves HTTPS to the token of a service account bound to
// the shipped ClusterRole gadget-metrics-reader (the agent asks the API
// server with its own, shipped RBAC), and refuses others.
func (e *env) checkMetrics(agent *corev1.Pod) {
	e.t.Helper()
	const ns = "e2e-monitoring"
	e.kubectl("create", "namespace", ns)
	e.t.Cleanup(func() {
		e.try("kubectl", "delete", "namespace", ns, "--wait=false")
		e.try("kubectl", "delete", "clusterrolebinding", "e2e-prometheus-gadget-metrics", "--ignore-not-found")
	})
	e.kubectl("-n", ns, "create", "serviceaccount", "prometheus")
	e.kubectl("-n", ns, "create", "serviceaccount", "other")
	e.kubectl("create", "clusterrolebinding", "e2e-prometheus-gadget-metrics", "--clusterrole=gadget-metrics-reader", "--serviceaccount="+ns+":prometheus")
	token := func(sa string) string {
		e.t.Helper()
		tr, err := e.cs.CoreV1().ServiceAccounts(ns).CreateToken(e.ctx, sa, &authnv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			e.t.Fatalf("token of %s/%s: %v", ns, sa, err)
		}
		return tr.Status.Token
	}
	prometheus, other := token("prometheus"), token("other")

	e.poll("the Service gadgetd-metrics lists the agent", time.Minute, func() (bool, string) {
		l, err := e.cs.DiscoveryV1().EndpointSlices(agentNS).List(e.ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=gadgetd-metrics"})
		if err != nil {
			return false, err.Error()
		}
		var addrs []string
		for _, s := range l.Items {
			for _, ep := range s.Endpoints {
				addrs = append(addrs, ep.Addresses...)
			}
		}
		return slices.Contains(addrs, agent.Status.PodIP), fmt.Sprintf("endpoints %v, agent %s", addrs, agent.Status.PodIP)
	})

	url := "https://" + net.JoinHostPort(agent.Status.PodIP, "9442") + "/metrics"
	// The DaemonSet's certificate is self-signed.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(tok string) (int, []byte) {
		e.t.Helper()
		req, _ := http.NewRequestWithContext(e.ctx, http.MethodGet, url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			e.t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if status, body := get(""); status != http.StatusUnauthorized {
		e.t.Errorf("GET %s without a token: %d %.200s, want 401", url, status, body)
	}
	if status, body := get(other); status != http.StatusForbidden {
		e.t.Errorf("GET %s as %s/other: %d %.200s, want 403", url, ns, status, body)
	}
	status, body := get(prometheus)
	if status != http.StatusOK {
		e.t.Fatalf("GET %s as %s/prometheus (gadget-metrics-reader): %d %.300s, want 200", url, ns, status, body)
	}
	f, err := metricstest.Parse(bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("metrics of %s: %v", url, err)
	}
	started, _ := f.Value("gadget_traces", map[string]string{"gadget": "network-graph", "state": "Started"})
	targets, _ := f.Value("gadget_targets_attached", map[string]string{"gadget": "network-graph"})
	if started < 1 || targets < 1 {
		e.t.Errorf("metrics of %s: gadget_traces{network-graph,Started} = %v, gadget_targets_attached = %v; want the running trace and its pods", url, started, targets)
	}
	// network-graph's default, attach=socket, runs in the agent's pod:
	// its TCP state program attached to its tracepoint from the pod.
	socket, _ := f.Sum("gadget_network_graph_attach_mode", map[string]string{"mode": "socket"})
	tcx, _ := f.Sum("gadget_network_graph_attach_mode", map[string]string{"mode": "tcx"})
	if socket < 1 || tcx != 0 {
		e.t.Errorf("metrics of %s: gadget_network_graph_attach_mode socket = %v, tcx = %v; want the default trace in socket mode, none fallen back to tcx (see the agent's log for the reason)", url, socket, tcx)
	}
	e.logf("GET %s: 401 without a token, 403 for another account, 200 for gadget-metrics-reader (%d families; %v trace(s) Started, %v target(s), %v in attach=socket)", url, len(f), started, targets, socket)
}
