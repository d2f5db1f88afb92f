package main

import (
	"strings"
	"testing"
)

func TestAnalyse(t *testing.T) {
	in := `[000] 
	ffffffff1 lookup_nulls_elem_raw
	ffffffff2 __htab_map_lookup_elem
	ffffffff3 bpf_prog_0123abcd_network_graph_t
	ffffffff4 bpf_prog_99aa_ng_tc_tag
	ffffffff5 __dev_queue_xmit

[000] 
	ffffffff6 bpf_prog_0123abcd_network_graph_t
	ffffffff4 bpf_prog_99aa_ng_tc_tag

[000] 
	ffffffff7 udp_sendmsg

[001] 
	ffffffff8 pv_native_safe_halt
	ffffffff9 default_idle

[000]  ffffffffa udp_recvmsg
`
	r, err := analyse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.CPUs) != 2 {
		t.Fatalf("cpus = %+v, want 2", r.CPUs)
	}
	c0, c1 := r.CPUs[0], r.CPUs[1]
	if c0.Samples != 4 || c0.Gadget != 2 || c0.SharePct != 50 || c0.Idle != 0 {
		t.Errorf("cpu 0 = %+v, want 4 samples, 2 in the gadget (50 %%)", c0)
	}
	if c1.Samples != 1 || c1.Idle != 1 || c1.Gadget != 0 {
		t.Errorf("cpu 1 = %+v, want 1 idle sample", c1)
	}
	if r.Busiest != 0 {
		t.Errorf("busiest = %d, want 0", r.Busiest)
	}
	want := []function{{"lookup_nulls_elem_raw", 50}, {"network_graph_tc", 50}}
	if len(r.Functions) != len(want) || r.Functions[0] != want[0] || r.Functions[1] != want[1] {
		t.Errorf("functions = %+v, want %+v", r.Functions, want)
	}
}

func TestAnalyseErrors(t *testing.T) {
	for _, in := range []string{"", "[x] \n\tffff sym\n", "[000 \n"} {
		if _, err := analyse(strings.NewReader(in)); err == nil {
			t.Errorf("analyse(%q) succeeded, want an error", in)
		}
	}
}

// TestAnalyseFullNames: kernels that name a program's symbol after its BTF
// function name write it whole (bpf_prog_<tag>_network_graph_tcx); those
// samples are network-graph's too, not 0 % of them.
func TestAnalyseFullNames(t *testing.T) {
	in := `[001] 
	ffffffff1 bpf_prog_7f92_network_graph_tcx
	ffffffff2 tcx_egress

[001] 
	ffffffff3 bpf_prog_aa01_network_graph_tcp_state
	ffffffff4 bpf_trace_run3

[001] 
	ffffffff5 bpf_prog_aa02_gbench_trivial

[001] 
	ffffffff6 udp_sendmsg
`
	r, err := analyse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if c := r.CPUs[0]; c.Samples != 4 || c.Gadget != 2 {
		t.Errorf("cpu 1 = %+v, want 4 samples, 2 in network-graph's programs", c)
	}
	want := []function{{"network_graph_tcp_state", 50}, {"network_graph_tcx", 50}}
	if len(r.Functions) != len(want) || r.Functions[0] != want[0] || r.Functions[1] != want[1] {
		t.Errorf("functions = %+v, want %+v", r.Functions, want)
	}
}
