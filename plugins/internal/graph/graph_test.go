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
	for _, batch := range []string{`{}`, `[{"annotations":{"a/b":1}}]`, `[{"annotations":"a"}]`, `[{"port":"80"}]`, `[{"pod":1}]`, `[{"port":1.5}]`, `[1]`, `[{"pod":"a"}`} {
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
