package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestFormatGolden(t *testing.T) {
	batch, err := os.ReadFile(filepath.Join("testdata", "batch.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"default", nil},
		{"no-header", map[string]string{"header": "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, mt, err := formatter{}.Format(context.Background(), abi.Request{Batch: batch, Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if mt != "text/csv" {
				t.Errorf("media type = %q, want text/csv", mt)
			}
			golden := filepath.Join("testdata", tc.name+".csv")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		batch  string
		params map[string]string
		want   string
	}{
		{"not JSON", `{`, nil, "not a JSON array"},
		{"object", `{"pod":"a"}`, nil, "not a JSON array"},
		{"bad header", `[]`, map[string]string{"header": "maybe"}, `header="maybe"`},
		{"unknown", `[]`, map[string]string{"sep": ";"}, `unknown parameter "sep"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := formatter{}.Format(context.Background(), abi.Request{Batch: abi.RawJSON(tc.batch), Parameters: tc.params})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFormatEmpty(t *testing.T) {
	got, _, err := formatter{}.Format(context.Background(), abi.Request{Batch: abi.RawJSON(`[]`)})
	if err != nil || string(got) != strings.Join(header, ",")+"\n" {
		t.Errorf("empty batch = %q, %v; want the header alone", got, err)
	}
}

func BenchmarkRender10k(b *testing.B) {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := range 10_000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"node":"node-1","namespace":"demo","pod":"pod-%d","pktType":"OUTGOING","proto":"tcp","ip":"10.%d.%d.%d","port":%d,"packets":%d,"bytes":%d}`,
			i%50, (i>>16)&255, (i>>8)&255, i&255, 1024+i%40000, i+1, (i+1)*60)
	}
	sb.WriteByte(']')
	batch := []byte(sb.String())
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := render(batch, true); err != nil {
			b.Fatal(err)
		}
	}
}
