package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"

	// The dashboard shows the metrics of every registered gadget.
	_ "github.com/gadgetkit/gadget/gadgets/all"
)

var metricName = regexp.MustCompile(`\bgadget_[a-z0-9_]+`)

// TestGrafanaDashboard checks that deploy/grafana/gadget.json is a
// dashboard whose every query names metrics the agents export (the
// histograms' _bucket series included), with a node-graph panel fed by
// the per-edge traffic counters.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana/gadget.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana/gadget.json: %v", err)
	}
	descs, err := metrics.Describe(registry.Default.All())
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]string{}
	for _, d := range descs {
		exported[d.Name] = d.Type
	}
	known := func(name string) bool {
		if _, ok := exported[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] == "histogram" {
				return true
			}
		}
		return false
	}
	var exprs []string
	for _, v := range dash.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	used := map[string]bool{}
	nodeGraph := false
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			if p.Type == "nodeGraph" && strings.Contains(tg.Expr, "gadget_network_graph_bytes_total") {
				nodeGraph = nodeGraph || tg.RefID == "edges"
			}
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used[name] = true
			if !known(name) {
				t.Errorf("the dashboard queries %s, which no metric of gadget is: %s", name, e)
			}
		}
	}
	if !nodeGraph {
		t.Error("no nodeGraph panel with an edges query of gadget_network_graph_bytes_total")
	}
	// Every metric is on some panel; the packet counters duplicate the
	// byte counters the traffic panels show.
	for _, d := range descs {
		if d.Name != "gadget_network_graph_packets_total" && !used[d.Name] && !used[d.Name+"_bucket"] {
			t.Errorf("%s (%s) is on no panel of the dashboard", d.Name, d.Help)
		}
	}
}
