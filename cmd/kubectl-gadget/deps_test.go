package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestClientDeps checks that kubectl-gadget, a client, links no eBPF (no
// cilium/ebpf, no bpf/ package, no gadget tracer), no plugin host and none
// of the node agent's controller code: it gets the gadgets' declarations
// from gadgets/declared, not gadgets/all.
func TestClientDeps(t *testing.T) {
	// go list reads the sources itself: the test cache cannot see them.
	t.Setenv("GOFLAGS", "-count=1")
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const mod = "github.com/gadgetkit/gadget/"
	forbidden := []struct{ prefix, why string }{
		{"github.com/cilium/ebpf", "eBPF"},
		{mod + "bpf/", "a BPF object"},
		{"sigs.k8s.io/controller-runtime/pkg/manager", "controller-runtime's manager"},
		{mod + "framework/controller", "the agent's controller"},
		{mod + "framework/trace", "the tracer's runtime"},
		{mod + "framework/plugin/loader", "the plugin hosts"},
		{"github.com/tetratelabs/wazero", "the WASM host"},
		{"github.com/hashicorp/go-plugin", "the go-plugin host"},
		{mod + "gadgets/all", "the gadgets' tracers"},
		{mod + "gadgets/networkgraph\n", "a gadget's tracer"},
		{mod + "gadgets/dns\n", "a gadget's tracer"},
	}
	deps := string(out)
	for _, f := range forbidden {
		for _, line := range strings.Split(deps, "\n") {
			if strings.HasPrefix(line+"\n", f.prefix) {
				t.Errorf("kubectl-gadget links %s (%s): split what the client needs from it", line, f.why)
			}
		}
	}
	if !strings.Contains(deps, mod+"gadgets/declared\n") {
		t.Error("kubectl-gadget does not link gadgets/declared: it would have no gadget commands")
	}
}
