package goplugin

import (
	"context"
	"errors"
	"testing"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin/pluginpb"
)

type testFormatter struct {
	format func(abi.Request) ([]byte, string, error)
}

func (testFormatter) Manifest() abi.Manifest {
	return abi.Manifest{Name: "t", MediaType: "text/plain", Kind: "wrong", ContractVersion: 99, Streaming: true}
}

func (f testFormatter) Format(_ context.Context, req abi.Request) ([]byte, string, error) {
	return f.format(req)
}

type testEnricher struct{}

func (testEnricher) Manifest() abi.Manifest { return abi.Manifest{Name: "e"} }

func (testEnricher) Enrich(_ context.Context, req abi.Request) ([]byte, error) {
	return append([]byte("enriched:"), req.Batch...), nil
}

func formatterServer(format func(abi.Request) ([]byte, string, error)) *server {
	f := testFormatter{format}
	return &server{formatter: f, manifest: fill(f.Manifest(), abi.KindFormatter)}
}

func TestManifestFilledIn(t *testing.T) {
	s := formatterServer(nil)
	m, err := s.GetManifest(context.Background(), &pluginpb.ManifestRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m.GetKind() != "formatter" || m.GetContractVersion() != abi.ContractVersion || m.GetName() != "t" || m.GetMediaType() != "text/plain" || !m.GetStreaming() {
		t.Errorf("manifest = %v, want kind and contract version set by Serve", m)
	}
}

func TestCall(t *testing.T) {
	echo := func(req abi.Request) ([]byte, string, error) {
		return []byte(req.Gadget + " " + string(req.Batch) + " " + req.Parameters["p"]), "", nil
	}
	for _, tc := range []struct {
		name   string
		s      *server
		kind   string
		want   *pluginpb.Response
		params map[string]string
	}{
		{"format", formatterServer(echo), "formatter", &pluginpb.Response{Data: []byte("g [1] v"), MediaType: "text/plain"}, map[string]string{"p": "v"}},
		{"own media type", formatterServer(func(abi.Request) ([]byte, string, error) { return []byte("x"), "text/csv", nil }), "formatter",
			&pluginpb.Response{Data: []byte("x"), MediaType: "text/csv"}, nil},
		{"error", formatterServer(func(abi.Request) ([]byte, string, error) { return nil, "", errors.New("bad batch") }), "formatter",
			&pluginpb.Response{Error: "bad batch"}, nil},
		{"panic", formatterServer(func(abi.Request) ([]byte, string, error) { panic("boom") }), "formatter",
			&pluginpb.Response{Error: "plugin panicked: boom"}, nil},
		{"wrong kind", formatterServer(echo), "enricher", &pluginpb.Response{Error: `plugin t is a formatter; called for kind "enricher"`}, nil},
		{"enrich", &server{enricher: testEnricher{}, manifest: fill(testEnricher{}.Manifest(), abi.KindEnricher)}, "enricher",
			&pluginpb.Response{Batch: []byte("enriched:[1]")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Call(context.Background(), &pluginpb.Request{Kind: tc.kind, Gadget: "g", Batch: []byte("[1]"), Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if string(got.GetData()) != string(tc.want.GetData()) || string(got.GetBatch()) != string(tc.want.GetBatch()) ||
				got.GetMediaType() != tc.want.GetMediaType() || got.GetError() != tc.want.GetError() {
				t.Errorf("Call = %v, want %v", got, tc.want)
			}
		})
	}
}
