package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// TestCompiledOnce checks that plugins of files with the same content
// share one compiled module.
func TestCompiledOnce(t *testing.T) {
	// The smallest valid module, exporting nothing: enough to compile.
	code := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, code, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	h, err := NewHost(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	cmA, err := h.compile(ctx, a, code)
	if err != nil {
		t.Fatal(err)
	}
	cmB, err := h.compile(ctx, b, code)
	if err != nil {
		t.Fatal(err)
	}
	if cmA != cmB || len(h.compiled) != 1 {
		t.Errorf("two files of the same content compiled %d times", len(h.compiled))
	}
}

// TestGoGuestsAreMetered checks that a Go guest runs with the fuel meter,
// not with wazero's slower check, and that the meter stops an endless
// loop at the deadline.
func TestGoGuestsAreMetered(t *testing.T) {
	files := plugintest.BuildWasm(t, t.TempDir(), "./plugins/conformance/faulty")
	ctx := context.Background()
	h, err := NewHost(ctx, Options{CallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	f, err := h.OpenFormatter(ctx, files[0])
	if err != nil {
		t.Fatal(err)
	}
	if m := f.(formatter).m; m.rt != h.rt {
		t.Fatal("the Go guest runs in the checked runtime: the meter did not understand it")
	}
	start := time.Now()
	_, err = f.Format(ctx, plugin.Batch{Sequence: 1, Events: []byte("[]")}, map[string]string{"mode": "loop"})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Format(loop) = %v, want a timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Format(loop) = %v: a timeout wraps context.DeadlineExceeded (the metrics count it so)", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the loop ran %v past a 300ms deadline", took)
	}
}

// TestRawAndJSONResponsesAgree checks that the repository's formatters
// answer a request offering the raw response (abi.Request.RawData) with
// the same output as one that does not, which they answer with JSON as
// for an older host.
func TestRawAndJSONResponsesAgree(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"go": plugintest.BuildWasm(t, dir, "./plugins/conformance/formatter")[0]}
	for name, src := range map[string]string{"c": "plugins/conformance/cformatter", "c-example": "plugins/examples/c-formatter"} {
		files[name] = filepath.Join(dir, name+".wasm")
		plugintest.BuildC(t, src, files[name])
	}
	ctx := context.Background()
	h, err := NewHost(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			f, err := h.OpenFormatter(ctx, file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m := f.(formatter).m
			var outs [2][]byte
			for i, raw := range []bool{false, true} {
				req, err := encodeRequest(abi.Request{
					ContractVersion: abi.ContractVersion, Kind: abi.KindFormatter, Gadget: "g", Sequence: 3,
					Parameters: map[string]string{"a": "1"}, RawData: raw,
				}, plugintest.Events(100))
				if err != nil {
					t.Fatal(err)
				}
				in, err := m.acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				packed, err := in.call(ctx, req, h.opts)
				if err != nil {
					t.Fatal(err)
				}
				b, _, err := in.view(packed, h.opts.MaxResultBytes)
				if err != nil {
					t.Fatal(err)
				}
				if gotRaw := len(b) > 0 && b[0] == abi.RawDataMark; gotRaw != raw {
					t.Errorf("rawData=%t: the response starts with %q", raw, b[:min(len(b), 10)])
				}
				resp, err := in.decode(packed, h.opts)
				if err != nil || resp.Error != "" {
					t.Fatalf("rawData=%t: %v %s", raw, err, resp.Error)
				}
				m.release(in)
				outs[i] = resp.Data
			}
			if len(outs[0]) == 0 || string(outs[0]) != string(outs[1]) {
				t.Errorf("JSON response %q, raw %q: want the same, not empty", clip(outs[0]), clip(outs[1]))
			}
		})
	}
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// TestDecodeResponse checks the base64 fast path against encoding/json.
func TestDecodeResponse(t *testing.T) {
	for _, in := range []string{
		`{"data":"aGVsbG8K"}`,
		`{"data":""}`,
		`{"data":"aGVsbG8K","mediaType":"text/plain"}`,
		`{"data":"aGVsbG8K" , "mediaType":"text/plain"} `,
		`{"data":"Pz8\/"}`,
		`{"mediaType":"text/plain","data":"aGVsbG8K"}`,
		`{"error":"boom"}`,
		`{"data":"aGVsbG8K\r\n"}`,
		`{"batch":[{"pod":"a"},{"pod":"b"}]}`,
		`{"batch": [] } `,
		`{"batch":[{"pod":"a"}],"error":"boom"}`,
		`{"error":"boom","batch":[{"pod":"a"}]}`,
		`{"batch":{"pod":"a"}}`,
	} {
		var want abi.Response
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, err := decodeResponse([]byte(in))
		if err != nil || string(got.Data) != string(want.Data) || got.MediaType != want.MediaType || got.Error != want.Error ||
			string(bytes.TrimSpace(got.Batch)) != string(want.Batch) {
			t.Errorf("decodeResponse(%s) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{
		`{"data":"not base64!"}`,
		`{"data":"aGVsbG8K"} x`,
		`{"data":"aGVsbG8K" "x"}`,
		`{"data":"aGVsbG8K","data":"aGVsbG8K"}`,
		`{"data":"aGVsbG8K",}`,
		`{"data":"aGVsbG8K`,
		`nope`,
		`{"batch":[1,}`,
		`{"batch":[1]`,
	} {
		if got, err := decodeResponse([]byte(in)); err == nil {
			t.Errorf("decodeResponse(%s) = %+v, want an error", in, got)
		}
	}
	// A batch as the SDKs write it is not scanned: what is wrong inside it
	// is found by the caller that decodes it (plugin.Enricher).
	if got, err := decodeResponse([]byte(`{"batch":[1,]}`)); err != nil || string(got.Batch) != `[1,]` {
		t.Errorf(`decodeResponse({"batch":[1,]}) = %q, %v; want the batch as it is`, got.Batch, err)
	}
}

// BenchmarkDecodeEnricherResponse decodes an enricher's response of 1,000
// edges as the SDK writes it ({"batch":[...]}): what the host reads of a
// batch on its way back, before the pipeline decodes its events.
func BenchmarkDecodeEnricherResponse(b *testing.B) {
	var batch bytes.Buffer
	batch.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"node":"n1","namespace":"shop","pod":"web-%d","pktType":"OUTGOING","proto":"tcp","ip":"10.0.%d.%d","port":443,"podLabels":{"app":"web"},"annotations":{"portnames/service":"https"}}`, i%8, i/256, i%256)
	}
	batch.WriteByte(']')
	resp := append(append([]byte(`{"batch":`), batch.Bytes()...), '}')
	b.SetBytes(int64(len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := decodeResponse(resp)
		if err != nil || len(r.Batch) != batch.Len() {
			b.Fatalf("decodeResponse: %d bytes of batch, %v", len(r.Batch), err)
		}
	}
}
