package recording_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gadgetkit/gadget/framework/recording"
)

// event is what Read handed over: the line and the bytes.
type event struct {
	line int
	json string
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []event
		wantErr string
	}{
		{name: "empty", in: ""},
		{name: "white space only", in: " \n\t\n"},
		{name: "empty array", in: "[]"},
		{name: "empty array, spaced", in: "\n[\n]\n"},
		{
			name: "JSON lines",
			in:   "{\"a\":1}\n{\"b\":\"}{\"}\n\n{\"c\":{\"d\":[1,{}]}}\n",
			want: []event{{1, `{"a":1}`}, {2, `{"b":"}{"}`}, {4, `{"c":{"d":[1,{}]}}`}},
		},
		{
			name: "JSON lines without a final newline, CRLF",
			in:   "{\"a\":1}\r\n{\"b\":2}",
			want: []event{{1, `{"a":1}`}, {2, `{"b":2}`}},
		},
		{
			name: "escaped quotes and backslashes in strings",
			in:   `{"a":"\"}\\"}` + "\n" + `{"b":"\\\"{"}`,
			want: []event{{1, `{"a":"\"}\\"}`}, {2, `{"b":"\\\"{"}`}},
		},
		{
			name: "indented array, events on the line they start",
			in:   "[\n  {\n    \"a\": 1\n  },\n  {\n    \"b\": [2]\n  }\n]\n",
			want: []event{{2, "{\n    \"a\": 1\n  }"}, {5, "{\n    \"b\": [2]\n  }"}},
		},
		{
			name: "compact array",
			in:   `[{"a":1},{"b":2}]`,
			want: []event{{1, `{"a":1}`}, {1, `{"b":2}`}},
		},
		{name: "a line that is no object", in: "{\"a\":1}\n42\n", want: []event{{1, `{"a":1}`}}, wantErr: `line 2: found '4': want one JSON object (event) per line`},
		{name: "neither array nor object", in: "\n\"x\"", wantErr: `line 2: found '"': want a JSON array of events or one JSON object (event) per line`},
		{name: "invalid JSON names its line", in: "{\"a\":1}\n{\"a\":\n1,}\n", want: []event{{1, `{"a":1}`}}, wantErr: "line 3: not valid JSON: invalid character '}' looking for beginning of object key string"},
		{name: "cut off inside an event", in: "{\"a\":1}\n{\"a\":", want: []event{{1, `{"a":1}`}}, wantErr: "line 2: the input ends inside this event: the recording is cut off"},
		{name: "cut off inside the array", in: "[{\"a\":1},\n", want: []event{{1, `{"a":1}`}}, wantErr: `line 2: the input ends inside the JSON array (no closing "]"): the recording is cut off`},
		{name: "array of numbers", in: "[1]", wantErr: `line 1: element 1 of the array: found '1': want a JSON object (event)`},
		{name: "trailing comma in the array", in: "[{\"a\":1},]", want: []event{{1, `{"a":1}`}}, wantErr: `line 1: element 2 of the array: found ']': want a JSON object (event)`},
		{name: "missing comma in the array", in: "[{\"a\":1}\n{\"b\":1}]", want: []event{{1, `{"a":1}`}}, wantErr: `line 2: found '{' after element 1 of the array: want "," or "]"`},
		{name: "text after the array", in: "[]\n[]", wantErr: `line 2: found '[' after the end of the JSON array: a recording holds one array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time too: an event split across reads is
			// put together.
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				var got []event
				err := recording.Read(r, func(line int, ev []byte) error {
					got = append(got, event{line, string(ev)})
					return nil
				})
				if tt.wantErr == "" && err != nil {
					t.Fatalf("Read: %v", err)
				}
				if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
					t.Fatalf("Read error = %v, want %q", err, tt.wantErr)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("events = %+v, want %+v", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestReadCallbackError(t *testing.T) {
	err := recording.Read(strings.NewReader("{}\n{}\n{\"port\":\"80\"}\n{}"), func(line int, ev []byte) error {
		if strings.Contains(string(ev), "port") {
			return errors.New(`field "port": want an integer`)
		}
		return nil
	})
	if err == nil || err.Error() != `line 3: field "port": want an integer` {
		t.Errorf("Read = %v, want the callback's error on line 3", err)
	}
}

func TestReadTooLarge(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", recording.MaxEventSize) + `"}`
	err := recording.Read(strings.NewReader("{}\n"+big), func(int, []byte) error { return nil })
	if err == nil || !strings.HasPrefix(err.Error(), "line 2: an event larger than 16 MiB") {
		t.Errorf("Read = %v, want an event too large on line 2", err)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("disk gone")
	err := recording.Read(iotest.ErrReader(boom), func(int, []byte) error { return nil })
	if !errors.Is(err, boom) {
		t.Errorf("Read = %v, want it to wrap the reader's error", err)
	}
}
