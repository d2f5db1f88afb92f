package plugintest_test

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/plugintest"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
)

// cFormatter builds plugins/conformance/cformatter, the conformance
// formatter written in C, with clang and Debian's wasi-libc into a
// temporary directory and opens it in a WASM host with the options of
// wasmHost. Without the toolchain it skips, or fails under CI=true.
func cFormatter(tb testing.TB) plugin.Formatter {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "conformance-c.wasm")
	plugintest.BuildC(tb, "plugins/conformance/cformatter", out)
	host, err := wasm.NewHost(context.Background(), wasm.Options{CacheDir: cacheDir(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = host.Close(context.Background()) })
	f, err := host.OpenFormatter(context.Background(), out)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	return f
}

// TestCFormatter checks that the C formatter gives the output of the
// built-in conformance.Format, byte for byte, and fails where it fails.
func TestCFormatter(t *testing.T) {
	c := cFormatter(t)
	if m := c.Manifest(); m.Name != "conformance-c" || m.Kind != "formatter" || m.ContractVersion != 1 || m.MediaType != "text/plain" {
		t.Fatalf("Manifest() = %+v, want the conformance formatter's named conformance-c", m)
	}
	builtin := builtinHost().Formatter(t)
	defer builtin.Close()

	ev := func(events ...string) []byte { return []byte("[" + strings.Join(events, ",") + "]") }
	tests := []struct {
		name   string
		batch  plugin.Batch
		params map[string]string
	}{
		{"10k events", plugin.Batch{Gadget: "network-graph", Sequence: 1, Final: true, Events: plugintest.Events(10_000)}, nil},
		{"10k events with parameters", plugin.Batch{Gadget: "network-graph", Sequence: 2, Events: plugintest.Events(10_000)}, map[string]string{"b": "2", "a": "1"}},
		{"empty batch", plugin.Batch{Gadget: "g", Sequence: 3, Events: []byte("[]")}, nil},
		{"empty final batch", plugin.Batch{Gadget: "g", Sequence: 3, Final: true, Events: []byte(" [ ] ")}, nil},
		{"no batch", plugin.Batch{Gadget: "g", Sequence: 3}, nil},
		{"large sequence", plugin.Batch{Gadget: "g", Sequence: math.MaxUint64, Events: ev(`{"ip":"a","port":1}`)}, nil},
		{"gadget and parameters with escapes", plugin.Batch{Gadget: "g<&>é\"\\\n\u2028", Sequence: 4, Events: ev(`{"ip":"a"}`)},
			map[string]string{"z": "1", "B": "x=y,z", "é": "<&>", "a": "\"\\\t\u2028", "": "empty key", "aa": ""}},
		{"fail", plugin.Batch{Gadget: "g", Sequence: 5, Events: ev(`{"ip":"a"}`)}, map[string]string{"fail": "asked to fail", "x": "y"}},
		{"fail wins over a bad batch", plugin.Batch{Gadget: "g", Sequence: 5, Events: []byte(`[1]`)}, map[string]string{"fail": "no luck \"quoted\"\n"}},
		{"escapes in ip", plugin.Batch{Gadget: "g", Sequence: 6, Events: ev(
			`{"ip":"\"\\\/\b\f\n\r\t","port":1}`,
			`{"ip":"\u00e9\u20AC\ud83d\ude00 \u0000\u001f","port":2}`,
			`{"ip":"lone \ud800x \udc00 \ud800\u0041 \ud800\ud800\udc00","port":3}`,
			`{"ip":"fe80::1%eth0 é € 😀 \u2028","port":4}`,
		)}, nil},
		{"long ips", plugin.Batch{Gadget: "g", Sequence: 6, Events: longIPs()}, nil},
		{"invalid UTF-8 in ip", plugin.Batch{Gadget: "g", Sequence: 7, Events: ev(
			"{\"ip\":\"a\xffb\xc0\xafc\xed\xa0\x80d\xe2\x82e\xf4\x90\x80\x80f\xf0\x9f\x98\",\"port\":1}",
		)}, nil},
		{"key case, escaped keys, last wins", plugin.Batch{Gadget: "g", Sequence: 8, Events: ev(
			`{"IP":"a","Port":1}`,
			`{"\u0069p":"b","p\u006Frt":2}`,
			`{"ip":"c","ip":"d","port":3,"PORT":4}`,
			`{"ip":"e","iP":null}`,
			`{"ipx":"f","por":5,"x":{"ip":"nested","port":6}}`,
		)}, nil},
		{"missing and null fields, null elements", plugin.Batch{Gadget: "g", Sequence: 9, Events: ev(
			`{}`, `null`, `{"ip":null,"port":null}`, `{"port":7}`, `{"ip":"x"}`,
		)}, nil},
		{"ports", plugin.Batch{Gadget: "g", Sequence: 10, Events: ev(
			`{"ip":"a","port":0}`, `{"ip":"a","port":-0}`, `{"ip":"a","port":-42}`,
			`{"ip":"a","port":9223372036854775807}`, `{"ip":"a","port":-9223372036854775808}`,
		)}, nil},
		{"nested values and white space", plugin.Batch{Gadget: "g", Sequence: 11, Events: []byte(
			" \n[ {\t\"x\" : { \"a\" : [ 1 , 2.5e-3 , { \"b\" : \"}]\" } , [ ] , { } ] , \"t\":true,\"f\":false,\"n\":null } ,\r\"ip\" : \"1.2.3.4\" , \"port\" : 1 } , null ]\n ",
		)}, nil},
		{"control characters outside ip", plugin.Batch{Gadget: "g", Sequence: 12, Events: ev("{\"pod\":\"a\x01b\",\"ip\":\"z\",\"port\":1}")}, nil},
		{"deep nesting", plugin.Batch{Gadget: "g", Sequence: 13, Events: ev(`{"x":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `,"ip":"a"}`)}, nil},
		// Errors: both fail.
		{"too deep", plugin.Batch{Gadget: "g", Sequence: 14, Events: ev(`{"x":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`)}, nil},
		{"port too large", plugin.Batch{Gadget: "g", Sequence: 15, Events: ev(`{"ip":"a","port":9223372036854775808}`)}, nil},
		{"port not an integer", plugin.Batch{Gadget: "g", Sequence: 15, Events: ev(`{"ip":"a","port":1.5}`)}, nil},
		{"port with exponent", plugin.Batch{Gadget: "g", Sequence: 15, Events: ev(`{"ip":"a","port":1e3}`)}, nil},
		{"port a string", plugin.Batch{Gadget: "g", Sequence: 15, Events: ev(`{"ip":"a","port":"80"}`)}, nil},
		{"ip a number", plugin.Batch{Gadget: "g", Sequence: 16, Events: ev(`{"ip":5}`)}, nil},
		{"ip an object", plugin.Batch{Gadget: "g", Sequence: 16, Events: ev(`{"ip":{"a":1}}`)}, nil},
		{"control character in ip", plugin.Batch{Gadget: "g", Sequence: 16, Events: ev("{\"ip\":\"a\nb\"}")}, nil},
		{"tab in ip", plugin.Batch{Gadget: "g", Sequence: 16, Events: ev("{\"ip\":\"a\tb\"}")}, nil},
		{"control character in an escaped key", plugin.Batch{Gadget: "g", Sequence: 16, Events: ev("{\"\\u0069\x01\":\"x\",\"ip\":\"a\"}")}, nil},
		{"control character in a long escaped key", plugin.Batch{Gadget: "g", Sequence: 16, Events: ev("{\"" + strings.Repeat(`\u0069`, 20) + "\x7f\x01\":\"x\",\"ip\":\"a\"}")}, nil},
		{"element not an object", plugin.Batch{Gadget: "g", Sequence: 17, Events: ev(`{"ip":"a"}`, `[]`)}, nil},
		{"string element", plugin.Batch{Gadget: "g", Sequence: 17, Events: ev(`"x"`)}, nil},
		{"not an array", plugin.Batch{Gadget: "g", Sequence: 17, Events: []byte(`{"ip":"a"}`)}, nil},
		{"trailing comma", plugin.Batch{Gadget: "g", Sequence: 18, Events: []byte(`[{"ip":"a",}]`)}, nil},
		{"trailing comma in array", plugin.Batch{Gadget: "g", Sequence: 18, Events: []byte(`[{"ip":"a"},]`)}, nil},
		{"unterminated", plugin.Batch{Gadget: "g", Sequence: 18, Events: []byte(`[{"ip":"a"}`)}, nil},
		{"unterminated string", plugin.Batch{Gadget: "g", Sequence: 18, Events: []byte(`[{"ip":"a}]`)}, nil},
		{"data after the batch", plugin.Batch{Gadget: "g", Sequence: 18, Events: []byte(`[{"ip":"a"}] x`)}, nil},
		{"invalid escape", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"pod":"\x41","ip":"a"}`)}, nil},
		{"short unicode escape", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"pod":"\u12G4","ip":"a"}`)}, nil},
		{"bad literals", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"a":tru,"ip":"a"}`)}, nil},
		{"bad null element", plugin.Batch{Gadget: "g", Sequence: 19, Events: []byte(`[nul]`)}, nil},
		{"leading zero", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"a":01,"ip":"a"}`)}, nil},
		{"bare minus", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"a":-,"ip":"a"}`)}, nil},
		{"missing fraction", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"a":1.,"ip":"a"}`)}, nil},
		{"missing colon", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{"a" 1}`)}, nil},
		{"key not a string", plugin.Batch{Gadget: "g", Sequence: 19, Events: ev(`{a:1}`)}, nil},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := builtin.Format(ctx, tt.batch, tt.params)
			got, err := c.Format(ctx, tt.batch, tt.params)
			switch {
			case wantErr != nil && err == nil:
				t.Fatalf("C Format = %q, want an error like the built-in's: %v", got.Data, wantErr)
			case wantErr == nil && err != nil:
				t.Fatalf("C Format failed: %v; want %q", err, want.Data)
			case wantErr != nil:
				// The hosts name the plugin differently; the causes are the same.
				if c, w := cause(err), cause(wantErr); c != w {
					t.Errorf("C Format error says %q, want %q", c, w)
				}
			case string(got.Data) != string(want.Data):
				t.Errorf("C Format = %q, want %q", clip(got.Data), clip(want.Data))
			}
			if err == nil && got.MediaType != "text/plain" {
				t.Errorf("media type = %q, want text/plain", got.MediaType)
			}
		})
	}
}

// clip shortens a long output for a failure message.
func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// cause returns what err says after the host's "plugin failed: ".
func cause(err error) string {
	_, c, _ := strings.Cut(err.Error(), plugin.ErrPluginFailed.Error()+": ")
	return c
}

// longIPs returns events whose ips are plain for 15 to 33 bytes, then have
// a special byte (an escape, a non-ASCII or an invalid byte) or end: the
// C formatter copies plain bytes 16 at a time.
func longIPs() []byte {
	var events []string
	for n := 15; n <= 33; n++ {
		plain := strings.Repeat("abcdefghij", 4)[:n]
		for _, tail := range []string{"", `\n`, "é", "\xff", `\u00e9x`} {
			events = append(events, `{"ip":"`+plain+tail+`","port":`+strconv.Itoa(n)+`}`)
		}
	}
	return []byte("[" + strings.Join(events, ",") + "]")
}
