package format

import (
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

func TestRemoteName(t *testing.T) {
	edge := types.Event{PktType: types.PktTypeOutgoing, Proto: "tcp", IP: "10.0.0.2", Port: 443}
	edge.Pod = "client"
	tests := []struct {
		name      string
		edit      func(*types.Event)
		table     string
		dotLabels string
	}{
		{"no name", func(*types.Event) {}, "443   -", `label="10.0.0.2"`},
		{"name", func(e *types.Event) { e.RemoteName = "web.test" }, "443   web.test", `label="web.test\n10.0.0.2"`},
		{"stale", func(e *types.Event) { e.RemoteName, e.RemoteNameStale = "web.test", true }, "443   web.test (stale)", `label="web.test (stale)\n10.0.0.2"`},
		{"pod and name", func(e *types.Event) {
			e.RemoteKind, e.RemotePodName, e.RemoteName = types.RemoteKindPod, "web", "web.test"
		}, "443   pod web, web.test", `label="web"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := edge
			tt.edit(&e)
			var table, dot strings.Builder
			if err := renderTable(&table, []types.Event{e}); err != nil {
				t.Fatal(err)
			}
			if err := renderDOT(&dot, []types.Event{e}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(table.String(), tt.table) {
				t.Errorf("table:\n%s\nwant %q", table.String(), tt.table)
			}
			if !strings.Contains(dot.String(), tt.dotLabels) {
				t.Errorf("dot:\n%s\nwant %q", dot.String(), tt.dotLabels)
			}
		})
	}
}

func TestUniqueKeepsLatestName(t *testing.T) {
	e := types.Event{PktType: types.PktTypeOutgoing, Proto: "udp", IP: "10.0.0.2", Port: 53, Packets: 1}
	named, stale, none := e, e, e
	named.RemoteName = "a.test"
	stale.RemoteName, stale.RemoteNameStale = "a.test", true
	got := types.Unique([]types.Event{none, named, stale, none})
	if len(got) != 1 || got[0].RemoteName != "a.test" || !got[0].RemoteNameStale || got[0].Packets != 4 {
		t.Errorf("Unique = %+v, want one edge named a.test, stale, 4 packets", got)
	}
}
