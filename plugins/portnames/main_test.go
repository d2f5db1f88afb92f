package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

func TestEnrich(t *testing.T) {
	batch := `[{"pod":"a","proto":"udp","port":53},` +
		`{"pod":"b","proto":"tcp","port":5432,"annotations":{"portnames/service":"old","geo/country":"NL"}},` +
		`{"pod":"c","proto":"tcp","port":8080},` +
		`{"pod":"d","proto":"tcp","port":4242},` +
		`{"type":"warn","message":"m","port":53,"proto":"udp"}]`
	tests := []struct {
		name   string
		params map[string]string
		want   []map[string]string // the annotations of each event
	}{
		{name: "well-known", want: []map[string]string{
			{"portnames/service": "dns"}, {"portnames/service": "postgres", "geo/country": "NL"}, {"portnames/service": "http-alt"}, nil, nil}},
		{name: "ports parameter", params: map[string]string{"ports": "8080/tcp=web, 4242=answer"},
			want: []map[string]string{
				{"portnames/service": "dns"}, {"portnames/service": "postgres", "geo/country": "NL"}, {"portnames/service": "web"}, {"portnames/service": "answer"}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := enrich(abi.Request{ContractVersion: abi.ContractVersion, Batch: []byte(batch), Parameters: tt.params})
			if err != nil {
				t.Fatal(err)
			}
			var events []struct {
				Pod         string            `json:"pod"`
				Annotations map[string]string `json:"annotations"`
			}
			if err := json.Unmarshal(out, &events); err != nil {
				t.Fatal(err)
			}
			var got []map[string]string
			for _, e := range events {
				got = append(got, e.Annotations)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("annotations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBadPortsParameter(t *testing.T) {
	for _, p := range []string{"8080", "x=web", "70000=big", "8080/tcp="} {
		if _, err := enrich(abi.Request{Batch: []byte("[]"), Parameters: map[string]string{"ports": p}}); err == nil {
			t.Errorf("ports=%q: no error", p)
		}
	}
}

// TestEnrichKeepsOtherFields checks that every field but annotations comes back
// as it was, in its order, and that the result is valid JSON.
func TestEnrichKeepsOtherFields(t *testing.T) {
	batch := `[{"node":"n","pod":"a","proto":"udp","port":53,"podLabels":{"app":"x \"y\""},"firstSeen":"2026-01-02T03:04:05Z","debug":"old","annotations":{"geo/city":"A \"B\""}},` +
		`{"type":"warn","message":"m"},` +
		`{"pod":"b","proto":"tcp","port":1}]`
	out, err := enrich(abi.Request{ContractVersion: abi.ContractVersion, Batch: []byte(batch)})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"node":"n","pod":"a","proto":"udp","port":53,"podLabels":{"app":"x \"y\""},"firstSeen":"2026-01-02T03:04:05Z","debug":"old","annotations":{"geo/city":"A \"B\"","portnames/service":"dns"}},` +
		`{"type":"warn","message":"m"},` +
		`{"pod":"b","proto":"tcp","port":1}]`
	if string(out) != want {
		t.Errorf("enrich =\n%s\nwant\n%s", out, want)
	}
	if !json.Valid(out) {
		t.Error("the result is not valid JSON")
	}
}
