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
	for _, batch := range []string{`{}`, `[{"port":"80"}]`, `[{"pod":1}]`, `[{"port":1.5}]`, `[1]`, `[{"pod":"a"}`} {
		if _, err := Edges([]byte(batch)); err == nil {
			t.Errorf("Edges(%s): no error", batch)
		}
	}
}
