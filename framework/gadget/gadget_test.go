package gadget_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
)

func validInfo() *gadget.Info {
	noop := func(context.Context, gadget.Handle) error { return nil }
	return &gadget.Info{
		Name:         "demo-gadget",
		Description:  "A gadget for tests.",
		Operations:   []gadget.Operation{{Name: "start", Doc: "Start it", Handler: noop}, {Name: "stop", Doc: "Stop it", Handler: noop}},
		OutputModes:  []gadget.OutputMode{gadget.OutputModeStream},
		TypesPackage: "example.com/types",
		Example:      gadget.ExampleTrace{OutputMode: gadget.OutputModeStream},
		New:          func(gadget.Config) (gadget.Instance, error) { return nil, nil },
	}
}

func metric(name string, kind gadget.MetricKind) gadget.Metric {
	return gadget.Metric{Name: name, Help: "Something.", Kind: kind}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*gadget.Info)
		wantErr string
	}{
		{"valid", func(*gadget.Info) {}, ""},
		{"bad name", func(i *gadget.Info) { i.Name = "Network_Graph" }, "Name must be lower-case"},
		{"no description", func(i *gadget.Info) { i.Description = "" }, "Description is empty"},
		{"no operations", func(i *gadget.Info) { i.Operations = nil }, "Operations is empty"},
		{"duplicate operation", func(i *gadget.Info) { i.Operations[1].Name = "start" }, `operation "start" is declared twice`},
		{"operation without doc", func(i *gadget.Info) { i.Operations[0].Doc = "" }, `operation "start" has no Doc`},
		{"operation without handler", func(i *gadget.Info) { i.Operations[0].Handler = nil }, `operation "start" has no Handler`},
		{"no output modes", func(i *gadget.Info) { i.OutputModes = nil }, "OutputModes is empty"},
		{"no types package", func(i *gadget.Info) { i.TypesPackage = "" }, "TypesPackage is empty"},
		{"no factory", func(i *gadget.Info) { i.New = nil }, "New is nil"},
		{"example mode not declared", func(i *gadget.Info) { i.Example.OutputMode = gadget.OutputModeStatus }, `Example.OutputMode "Status"`},
		{"formats without output", func(i *gadget.Info) { i.Formats = []string{"table"} }, "NewOutput is nil"},
		{"metrics", func(i *gadget.Info) {
			i.Metrics = []gadget.Metric{metric("gadget_demo_gadget_edges", gadget.MetricGauge)}
		}, ""},
		{"metric without prefix", func(i *gadget.Info) { i.Metrics = []gadget.Metric{metric("demo_edges", gadget.MetricGauge)} }, "start with gadget_demo_gadget_"},
		{"metric twice", func(i *gadget.Info) {
			i.Metrics = []gadget.Metric{metric("gadget_demo_gadget_edges", gadget.MetricGauge), metric("gadget_demo_gadget_edges", gadget.MetricGauge)}
		}, "declared twice"},
		{"metric without help", func(i *gadget.Info) {
			m := metric("gadget_demo_gadget_edges", gadget.MetricGauge)
			m.Help = ""
			i.Metrics = []gadget.Metric{m}
		}, "has no Help"},
		{"metric of no kind", func(i *gadget.Info) { i.Metrics = []gadget.Metric{metric("gadget_demo_gadget_edges", "summary")} }, `Kind "summary"`},
		{"counter without _total", func(i *gadget.Info) {
			i.Metrics = []gadget.Metric{metric("gadget_demo_gadget_lost", gadget.MetricCounter)}
		}, "ends in _total"},
		{"gauge with _total", func(i *gadget.Info) {
			i.Metrics = []gadget.Metric{metric("gadget_demo_gadget_lost_total", gadget.MetricGauge)}
		}, "only a counter"},
		{"traffic gauge", func(i *gadget.Info) {
			m := metric("gadget_demo_gadget_edges", gadget.MetricGauge)
			m.Traffic = true
			i.Metrics = []gadget.Metric{m}
		}, "a Traffic metric is a counter"},
		{"trace label", func(i *gadget.Info) {
			m := metric("gadget_demo_gadget_edges", gadget.MetricGauge)
			m.Labels = []string{"trace"}
			i.Metrics = []gadget.Metric{m}
		}, `label "trace"`},
		{"formats with output", func(i *gadget.Info) {
			i.Formats = []string{"table"}
			i.NewOutput = func(string, io.Writer, io.Writer) (gadget.Output, error) { return nil, nil }
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := validInfo()
			tt.mutate(info)
			err := info.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, gadget.ErrInvalidInfo) {
				t.Fatalf("Validate() = %v, want an ErrInvalidInfo naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestOperationLookup(t *testing.T) {
	info := validInfo()
	if op, err := info.Operation("stop"); err != nil || op.Name != "stop" {
		t.Fatalf("Operation(stop) = %v, %v", op.Name, err)
	}
	_, err := info.Operation("collect")
	if !errors.Is(err, gadget.ErrUnknownOperation) || !strings.Contains(err.Error(), "[start stop]") {
		t.Fatalf("Operation(collect) error = %v, want ErrUnknownOperation listing start and stop", err)
	}
	if !info.SupportsOutputMode(gadget.OutputModeStream) || info.SupportsOutputMode(gadget.OutputModeFile) {
		t.Error("SupportsOutputMode disagrees with OutputModes")
	}
}

func TestPendingTargets(t *testing.T) {
	a := gadget.Target{ID: "a", Pod: "pod-a", NetnsPath: "/var/run/netns/a"}
	b := gadget.Target{ID: "b", Pod: "pod-b", NetnsPath: "/var/run/netns/b"}
	a2 := gadget.Target{ID: "a", Pod: "pod-a", NetnsPath: "/proc/42/ns/net"}
	ids := func(ts []gadget.Target) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.ID+"="+t.NetnsPath)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name string
		do   func(p *gadget.PendingTargets) bool
		want string // what Take returns afterwards
		ok   bool   // what the last call reported (Remove, Relabel)
	}{
		{"empty", func(*gadget.PendingTargets) bool { return false }, "", false},
		{"added in order", func(p *gadget.PendingTargets) bool { p.Add(b); p.Add(a); return false },
			"b=/var/run/netns/b,a=/var/run/netns/a", false},
		{"the same ID once, as first added", func(p *gadget.PendingTargets) bool { p.Add(a); p.Add(b); p.Add(a2); return false },
			"a=/var/run/netns/a,b=/var/run/netns/b", false},
		{"removed", func(p *gadget.PendingTargets) bool { p.Add(a); p.Add(b); return p.Remove("a") },
			"b=/var/run/netns/b", true},
		{"removed, not kept", func(p *gadget.PendingTargets) bool { p.Add(b); return p.Remove("a") },
			"b=/var/run/netns/b", false},
		{"relabelled in place", func(p *gadget.PendingTargets) bool { p.Add(a); p.Add(b); return p.Relabel(a2) },
			"a=/proc/42/ns/net,b=/var/run/netns/b", true},
		{"relabelled, not kept", func(p *gadget.PendingTargets) bool { p.Add(b); return p.Relabel(a2) },
			"b=/var/run/netns/b", false},
		{"added again after removal", func(p *gadget.PendingTargets) bool { p.Add(a); p.Remove("a"); p.Add(a2); return false },
			"a=/proc/42/ns/net", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p gadget.PendingTargets
			if ok := tt.do(&p); ok != tt.ok {
				t.Errorf("reported %v, want %v", ok, tt.ok)
			}
			if got := ids(p.Take()); got != tt.want {
				t.Errorf("Take() = %q, want %q", got, tt.want)
			}
			if len(p.Take()) != 0 {
				t.Errorf("targets kept after Take")
			}
		})
	}
}
