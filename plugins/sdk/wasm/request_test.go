package wasm

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"host encoding", `{"contractVersion":1,"kind":"formatter","gadget":"g","sequence":3,"final":true,"batch":[{"ip":"1.2.3.4","s":"a]\"}"}],"parameters":{"batch":"x"}}`},
		{"spaces and order", "{ \"parameters\" : {\"k\":\"v\"},\n \"batch\" :\t[ ] , \"sequence\": 2 }"},
		{"nested batch key", `{"parameters":{"batch":"[1]"},"batch":[{"batch":[1]}],"gadget":"g"}`},
		{"batch last, as the host sends it", `{"contractVersion":1,"kind":"formatter","parameters":{"a":"]}"},"batch":[{"ip":"x]"}, {"b":[]}] }` + "\n"},
		{"batch last, empty", `{"contractVersion":1,"batch":[]}`},
		{"no batch", `{"contractVersion":1}`},
		{"null batch", `{"batch":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want abi.Request
			wantErr := json.Unmarshal([]byte(tt.in), &want)
			got, err := decodeRequest([]byte(tt.in))
			if tt.name == "null batch" {
				if err == nil {
					t.Errorf("decodeRequest(%s): no error for a null batch", tt.in)
				}
				return
			}
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error = %v, encoding/json says %v", err, wantErr)
			}
			if len(got.Batch) > 0 || len(want.Batch) > 0 {
				var g, w any
				_ = json.Unmarshal(got.Batch, &g)
				_ = json.Unmarshal(want.Batch, &w)
				if !reflect.DeepEqual(g, w) {
					t.Errorf("batch = %s, want %s", got.Batch, want.Batch)
				}
			}
			got.Batch, want.Batch = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeRequest = %+v, want %+v", got, want)
			}
		})
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	for _, in := range []string{`{"batch":[1,2}`, `{"batch":"x"}`, `not json`, `{"batch":[],"sequence":"x"}`} {
		if _, err := decodeRequest([]byte(in)); err == nil {
			t.Errorf("decodeRequest(%s): no error", in)
		}
	}
}

func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	for _, r := range []abi.Response{
		{},
		{Data: []byte("digraph {}\n\x00\xff")},
		{Data: []byte("x"), MediaType: "text/vnd.graphviz"},
		{Batch: abi.RawJSON(`[{"a":1}]`)},
		{Error: "bad <input> \"x\"\n"},
		{Batch: abi.RawJSON(`[]`), Data: []byte("d"), MediaType: "m", Error: "e"},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendResponse([]byte("keep"), r); string(got) != "keep"+string(want) {
			t.Errorf("appendResponse(%+v) = %s, want %s", r, got, want)
		}
	}
}

// An array after the batch, which the host never sends, cannot pass for
// part of the batch: the batch's decoder rejects it.
func TestDecodeRequestArrayAfterBatch(t *testing.T) {
	req, err := decodeRequest([]byte(`{"batch":[{}],"x":[2]}`))
	if err != nil {
		return
	}
	if err := ForEachObject(req.Batch, func(Object) error { return nil }); err == nil {
		t.Errorf("batch %s decoded without error", req.Batch)
	}
	if err := json.Unmarshal(req.Batch, new(any)); err == nil {
		t.Errorf("batch %s is valid JSON", req.Batch)
	}
}

func TestAppendResult(t *testing.T) {
	tests := []struct {
		name string
		r    abi.Response
		raw  bool
		want string
	}{
		{"raw output", abi.Response{Data: []byte("a\x00b\n")}, true, "keep\x00a\x00b\n"},
		{"raw, empty output", abi.Response{Data: []byte{}}, true, "keep\x00"},
		{"raw not offered", abi.Response{Data: []byte("ab")}, false, `keep{"data":"YWI="}`},
		{"an error is JSON", abi.Response{Error: "boom"}, true, `keep{"error":"boom"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appendResult([]byte("keep"), tt.r, tt.raw); string(got) != tt.want {
				t.Errorf("appendResult = %q, want %q", got, tt.want)
			}
		})
	}
}
