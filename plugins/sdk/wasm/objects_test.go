package wasm

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// event is what the tests decode with both decoders.
type event struct {
	IP   string `json:"ip"`
	Port int64  `json:"port"`
	Pod  string `json:"pod"`
}

func decodeFast(batch []byte) ([]event, error) {
	var out []event
	err := ForEachObject(batch, func(o Object) error {
		var e event
		var err error
		if e.IP, err = o.String("ip"); err != nil {
			return err
		}
		if e.Port, err = o.Int("port"); err != nil {
			return err
		}
		if e.Pod, err = o.String("pod"); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func TestForEachObjectMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`[]`, ` [ ] `, `[{}]`, `[null, {"ip":"a"}]`,
		`[{"ip":"10.0.0.1","port":80,"pod":"web","x":{"a":[1,2.5e3,-0.1,true,false,null,"s"]}}]`,
		`[{"ip":"caf\u00e9 \"q\" \\ \/ \n","port":-3}]`,
		`[{"ip":"é€😀","port":0}]`,
		`[{"IP":"upper","port":1}]`,
		`[{"ip":"first","ip":"last"}]`,
		`[{"i\u0070":"escaped key"}]`,
		`[{"ip":null,"port":null}]`,
		"[\n\t{ \"ip\" : \"ws\" ,\r\n \"port\" : 7 }\n]\n",
	} {
		t.Run(in, func(t *testing.T) {
			var want []event
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatalf("encoding/json: %v", err)
			}
			got, err := decodeFast([]byte(in))
			if err != nil {
				t.Fatalf("ForEachObject: %v", err)
			}
			if len(got) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ForEachObject = %+v, encoding/json = %+v", got, want)
			}
		})
	}
}

func TestForEachObjectErrors(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `[`, `[{]`, `[{"ip":}]`, `[{"ip":"a"`, `[{"ip":"a"} {}]`, `[1]`, `["s"]`, `[[]]`,
		`[{"ip":"a\q"}]`, `[{"ip":"a\u12"}]`, "[{\"ip\":\"a\x01\"}]", `[{"ip":"a"}] x`, `[{"port":01}]`,
		`[{"port":1.}]`, `[{"port":-}]`, `[{"port":1e}]`, `[{"x":tru}]`, `[{"x":[1,]}]`, `[{"x":{"a"}}]`,
		`[{"ip":1}]`, `[{"port":"80"}]`, `[{"port":1.5}]`, `[{"ip":"\`,
	} {
		if got, err := decodeFast([]byte(in)); err == nil {
			t.Errorf("ForEachObject(%q) = %+v, want an error", in, got)
		}
	}
}

func TestForEachObjectStopsOnError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := ForEachObject([]byte(`[{},{},{}]`), func(Object) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ForEachObject = %v after %d calls, want stop after 1", err, calls)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\b\f\x00\x1f", "<a&b>", "é€😀", "\u2028\u2029", "bad\xffutf8", "\xe2\x82"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestObjectMembers(t *testing.T) {
	var keys []string
	var vals []string
	err := ForEachObject([]byte(`[{"a":1,"b":{"c":[2]},"d":"e"}]`), func(o Object) error {
		for i := range o.Len() {
			k, v := o.Member(i)
			keys, vals = append(keys, string(k)), append(vals, string(v))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys, []string{"a", "b", "d"}) || !reflect.DeepEqual(vals, []string{"1", `{"c":[2]}`, `"e"`}) {
		t.Errorf("members = %q %q", keys, vals)
	}
}

// batch10k is a batch of 10,000 network-graph edges.
func batch10k() []byte {
	b := []byte{'['}
	for i := range 10_000 {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"node":"node-1","namespace":"demo","pod":"pod-%d","pktType":"OUTGOING","proto":"tcp","ip":"10.%d.%d.%d","port":%d,"packets":%d,"bytes":%d}`,
			i%50, (i>>16)&255, (i>>8)&255, i&255, 1024+i%40000, i+1, (i+1)*60)
	}
	return append(b, ']')
}

func BenchmarkForEachObject(b *testing.B) {
	batch := batch10k()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if _, err := decodeFast(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForEachObjectSkip(b *testing.B) {
	batch := batch10k()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if err := ForEachObject(batch, func(Object) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	batch := batch10k()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		var events []event
		if err := json.Unmarshal(batch, &events); err != nil {
			b.Fatal(err)
		}
	}
}
