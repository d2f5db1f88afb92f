package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/registry"
	"github.com/gadgetkit/gadget/internal/testenv"

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

// TestGrafanaQueries has promtool parse every query of the dashboard and
// evaluate the node graph's two on traffic counters of a client and a
// server that both watch one connection, and of a pod calling an outside
// address: three nodes and two edges, the watched connection once.
func TestGrafanaQueries(t *testing.T) {
	testenv.RequireTool(t, "promtool", "prometheus")
	raw, err := os.ReadFile("grafana/gadget.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type    string `json:"type"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "5m", "$instance", ".*")
	type sample struct {
		Labels string  `json:"labels"`
		Value  float64 `json:"value"`
	}
	type exprTest struct {
		Expr     string   `json:"expr"`
		EvalTime string   `json:"eval_time"`
		Samples  []sample `json:"exp_samples"`
	}
	var exprs, parsed []exprTest
	var nodes, edges string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			e := vars.Replace(tg.Expr)
			switch {
			case p.Type == "nodeGraph" && tg.RefID == "nodes":
				nodes = e
			case p.Type == "nodeGraph" && tg.RefID == "edges":
				edges = e
			default:
				// Parsed and evaluated, on no series.
				parsed = append(parsed, exprTest{Expr: e, EvalTime: "10m", Samples: []sample{}})
			}
		}
	}
	if nodes == "" || edges == "" {
		t.Fatal("no nodeGraph panel with nodes and edges queries")
	}
	// 600 bytes a minute is 10 bytes/s.
	exprs = append(exprs,
		exprTest{Expr: edges, EvalTime: "10m", Samples: []sample{
			{`{id="client -> server", source="client", target="server"}`, 10},
			{`{id="demo/api -> 10.0.0.9", source="demo/api", target="10.0.0.9"}`, 1},
		}},
		exprTest{Expr: nodes, EvalTime: "10m", Samples: []sample{
			{`{id="client", title="client"}`, 20},
			{`{id="server", title="server"}`, 20},
			{`{id="demo/api", title="demo/api"}`, 1},
			{`{id="10.0.0.9", title="10.0.0.9"}`, 1},
		}})
	series := func(labels, values string) map[string]string {
		return map[string]string{"series": "gadget_network_graph_bytes_total{instance=\"a\"," + labels + "}", "values": values}
	}
	spec := map[string]any{
		"rule_files":          []string{},
		"evaluation_interval": "1m",
		"tests": []any{map[string]any{"interval": "1m", "input_series": []any{}, "promql_expr_test": parsed}, map[string]any{
			"interval": "1m",
			"input_series": []any{
				series(`namespace="",pod="client",remote="server",protocol="tcp",port="8080",direction="outgoing"`, "0+600x10"),
				series(`namespace="",pod="server",remote="client",protocol="tcp",port="8080",direction="incoming"`, "0+600x10"),
				series(`namespace="demo",pod="api",remote="10.0.0.9",protocol="udp",port="53",direction="outgoing"`, "0+60x10"),
			},
			"promql_expr_test": exprs,
		}},
	}
	b, err := json.Marshal(spec) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-test.yml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("promtool", "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}
