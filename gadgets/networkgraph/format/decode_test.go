package format_test

import (
	"testing"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/format"
)

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		in, wantErr string
	}{
		{in: `{"namespace":"demo","pod":"a","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.1","port":80,"unknown":1}`},
		{in: `{"port":"80"}`, wantErr: `field "port": a JSON string where an integer belongs`},
		{in: `{"namespace":5}`, wantErr: `field "namespace": a JSON number where a string belongs`},
		{in: `{"podLabels":{"app":1}}`, wantErr: `field "podLabels": a JSON number where a string belongs`},
		{in: `{"podLabels":"app=web"}`, wantErr: `field "podLabels": a JSON string where an object belongs`},
		{in: `{"packets":-1}`, wantErr: `field "packets": a JSON number -1 where a non-negative integer belongs`},
		{in: `{"remoteNameStale":"yes"}`, wantErr: `field "remoteNameStale": a JSON string where true or false belongs`},
		{in: `{"firstSeen":"yesterday"}`, wantErr: `field firstSeen or lastSeen: "yesterday" is not a time: want RFC 3339, e.g. 2026-01-02T15:04:05Z`},
		{in: `[]`, wantErr: `a JSON array where a network-graph event (an object) belongs`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := format.DecodeEvent([]byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("DecodeEvent(%s) error = %q, want %q", tt.in, got, tt.wantErr)
			}
		})
	}
}

func TestMergerMatchesFinalGraph(t *testing.T) {
	b1 := []byte(`[{"pod":"a","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.2","port":80,"packets":1},{"type":"warn","message":"m"}]`)
	b2 := []byte(`[{"pod":"a","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.2","port":80,"packets":2},{"pod":"a","pktType":"HOST","proto":"tcp","ip":"10.0.0.1","port":8080}]`)
	m := format.NewMerger()
	for _, b := range [][]byte{b1, b2} {
		if err := m.Add(b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.Result()
	if err != nil {
		t.Fatal(err)
	}
	want, err := format.FinalGraph([]byte(string(b1[:len(b1)-1]) + "," + string(b2[1:])))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("merged in batches:\n%s\nFinalGraph of all:\n%s", got, want)
	}
	if err := m.Add([]byte(`{"not":"an array"}`)); err == nil {
		t.Error("Add of an object succeeded, want an error")
	}
}
