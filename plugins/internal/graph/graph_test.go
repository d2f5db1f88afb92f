package graph

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// TestEdgesMatchesEncodingJSON checks that Edges decodes events exactly as
// encoding/json decodes them into Event, dropping warn and err events.
func TestEdgesMatchesEncodingJSON(t *testing.T) {
	for _, batch := range []string{
		`[]`,
		`[{"namespace":"demo","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.1","port":80,"packets":3,"podLabels":{"a":"b"}}]`,
		`[{"type":"warn","message":"m"},{"type":"normal","pod":"a"},{"type":"err"},null]`,
		`[{"pod":"caf\u00e9 \"x\"\n","remoteKind":"svc","remoteServiceNamespace":"ns","remoteServiceName":"db","POD":"last"}]`,
		`[{"remoteKind":"pod","remotePodNamespace":"ns","remotePodName":"p","remoteOther":"host","podIP":null,"port":null}]`,
		`[{"pod":"a","annotations":{"geo/city":"A \"B\"\n","portnames/service":"dns"}},{"pod":"b","annotations":null},{"pod":"c","annotations":{}}]`,
		`[{"pod":"a","remoteName":"web.test","remoteNameStale":true},{"pod":"b","remoteName":"x.test","remoteNameStale":false},{"pod":"c","remoteNameStale":null}]`,
	} {
		t.Run(batch, func(t *testing.T) {
			var all []Event
			if err := json.Unmarshal([]byte(batch), &all); err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(all, func(e Event) bool { return !e.IsEdge() })
			got, err := Edges([]byte(batch))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 0 || len(want) != 0 {
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Edges = %+v\nencoding/json: %+v", got, want)
				}
			}
		})
	}
}

func TestEdgesErrors(t *testing.T) {
	for _, batch := range []string{`{}`, `[{"annotations":{"a/b":1}}]`, `[{"annotations":"a"}]`, `[{"port":"80"}]`, `[{"pod":1}]`, `[{"port":1.5}]`, `[1]`, `[{"pod":"a"}`, `[{"remoteNameStale":"yes"}]`} {
		if _, err := Edges([]byte(batch)); err == nil {
			t.Errorf("Edges(%s): no error", batch)
		}
	}
}

// TestBuildNotes checks that an arrow lists the annotations of all its
// events, sorted, each once, after proto/port.
func TestBuildNotes(t *testing.T) {
	edge := func(port int, ann map[string]string) Event {
		return Event{Pod: "a", PktType: "OUTGOING", Proto: "tcp", IP: "10.0.0.1", Port: port, Annotations: ann}
	}
	g := Build([]Event{
		edge(80, map[string]string{"portnames/service": "http", "geo/country": "NL"}),
		edge(80, map[string]string{"portnames/service": "http"}),
		edge(80, nil),
		edge(443, nil),
	})
	var labels []string
	for _, a := range g.Arrows {
		labels = append(labels, a.Label())
	}
	want := []string{"tcp/80\ngeo/country=NL\nportnames/service=http", "tcp/443"}
	if !slices.Equal(labels, want) {
		t.Errorf("labels = %q, want %q", labels, want)
	}
}

// TestBuildRemoteName checks that a remote address shows the DNS name the
// pod resolved to it above the address, marked when stale, as the
// built-in dot format does; a pod keeps its name.
func TestBuildRemoteName(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Event
		want string
	}{
		{"none", Event{IP: "10.0.0.2"}, "10.0.0.2"},
		{"name", Event{IP: "10.0.0.2", RemoteName: "web.test"}, "web.test\n10.0.0.2"},
		{"stale", Event{IP: "10.0.0.2", RemoteName: "web.test", RemoteNameStale: true}, "web.test (stale)\n10.0.0.2"},
		{"pod", Event{IP: "10.0.0.2", RemoteKind: "pod", RemotePodName: "web", RemoteName: "web.test"}, "web"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.e.Pod, tc.e.PktType, tc.e.Proto = "client", "OUTGOING", "tcp"
			g := Build([]Event{tc.e})
			if len(g.Nodes) != 2 || g.Nodes[len(g.Nodes)-1].Label != tc.want && g.Nodes[0].Label != tc.want {
				t.Errorf("nodes = %+v, want one labelled %q", g.Nodes, tc.want)
			}
		})
	}
}
