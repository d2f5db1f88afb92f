package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormatInput checks how gadget format reads its input: streamed in
// batches, merged into the unique graph, and a bad event ends it with exit
// status 2 naming the line and the field, printing no partial graph.
func TestFormatInput(t *testing.T) {
	dir := t.TempDir()
	edge := func(port int, packets int) string {
		return fmt.Sprintf(`{"namespace":"demo","pod":"web","pktType":"OUTGOING","proto":"tcp","ip":"10.0.0.2","port":%d,"packets":%d}`, port, packets)
	}
	// Over 1 MiB of JSON lines: several batches, 100 unique edges.
	var many strings.Builder
	for i := range 20000 {
		many.WriteString(edge(1000+i%100, 1) + "\n")
	}
	files := map[string]string{
		"lines.jsonl":   edge(80, 1) + "\n" + edge(443, 2) + "\n" + edge(80, 3) + "\n",
		"array.json":    "[\n" + edge(80, 1) + ",\n" + edge(80, 3) + "\n]\n",
		"many.jsonl":    many.String(),
		"badtype.jsonl": edge(80, 1) + "\n" + edge(443, 1) + "\n" + `{"pod":"web","port":"80"}` + "\n" + edge(8080, 1) + "\n",
		"badjson.jsonl": edge(80, 1) + "\n" + `{"pod":"web",}` + "\n",
		"cutoff.json":   "[\n" + edge(80, 1) + ",\n",
		"empty.jsonl":   "",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name    string
		args    []string
		code    int
		edges   int    // unique edges in the JSON output, when code is 0
		packets uint64 // their packets
		wantErr string
	}{
		{name: "JSON lines merge", args: []string{"--input", in("lines.jsonl")}, edges: 2, packets: 6},
		{name: "JSON array", args: []string{"--input", in("array.json")}, edges: 1, packets: 4},
		{name: "many batches", args: []string{"--input", in("many.jsonl")}, edges: 100, packets: 20000},
		{name: "empty", args: []string{"--input", in("empty.jsonl")}, edges: 0},
		{name: "wrong type names line and field", args: []string{"--input", in("badtype.jsonl")}, code: exitUsage,
			wantErr: `gadget: --input ` + in("badtype.jsonl") + `: line 3: field "port": a JSON string where an integer belongs`},
		{name: "wrong type with a streaming format", args: []string{"--input", in("badtype.jsonl"), "-o", "jsonl"}, code: exitUsage,
			wantErr: `line 3: field "port": a JSON string where an integer belongs`},
		{name: "invalid JSON", args: []string{"--input", in("badjson.jsonl")}, code: exitUsage,
			wantErr: `: line 2: not valid JSON: invalid character '}' looking for beginning of object key string`},
		{name: "cut off", args: []string{"--input", in("cutoff.json")}, code: exitUsage, wantErr: "the recording is cut off"},
		{name: "missing file", args: []string{"--input", in("nope.json")}, code: exitUsage,
			wantErr: "gadget: --input " + in("nope.json") + ": no such file or directory"},
		{name: "directory", args: []string{"--input", dir}, code: exitUsage, wantErr: "is a directory"},
		{name: "no input", code: exitUsage, wantErr: "--input: name the file of recorded events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"format", "fake-graph"}, tt.args...)
			if !strings.Contains(strings.Join(args, " "), "-o ") {
				args = append(args, "-o", "json")
			}
			r := run(t, &fakeGadget{}, 1000, args...)
			if r.code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			if tt.code != exitOK {
				if !strings.Contains(r.stderr, tt.wantErr) || strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("stderr = %q, want one line containing %q", r.stderr, tt.wantErr)
				}
				// A streaming format has written the batches before the
				// bad one; a final format writes nothing.
				if !strings.Contains(strings.Join(args, " "), "-o jsonl") && r.stdout != "" {
					t.Errorf("stdout = %q, want nothing for a bad input", r.stdout)
				}
				return
			}
			var got []struct {
				Packets uint64 `json:"packets"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("stdout is not a JSON array: %v\n%s", err, r.stdout)
			}
			var packets uint64
			for _, e := range got {
				packets += e.Packets
			}
			if len(got) != tt.edges || packets != tt.packets {
				t.Errorf("%d edges with %d packets, want %d with %d", len(got), packets, tt.edges, tt.packets)
			}
		})
	}
}

// TestBadTargets runs gadget run against this machine's real discovery:
// every bad --netns or --pid exits 2 with one line naming the flag and a
// true hint. None of them gets as far as tracing, so no root is needed.
func TestBadTargets(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"netns given as a path", []string{"--netns", "/proc/1/ns/net"}, "--pid 1"},
		{"netns path of self", []string{"--netns", "/proc/self/ns/net"}, "not a namespace name: use a name from 'ip netns list'"},
		{"netns relative path", []string{"--netns", "../etc"}, "not a namespace name"},
		{"netns name too long", []string{"--netns", long}, "a name of 300 bytes, longer than any file name (255)"},
		{"netns missing", []string{"--netns", "inputs-no-such-ns"}, `no network namespace named "inputs-no-such-ns"`},
		{"pid missing", []string{"--pid", "2147483647"}, "--pid 2147483647: no such process"},
		{"pid too large for an int", []string{"--pid", "99999999999999999999"}, `invalid argument "99999999999999999999" for "--pid" flag`},
		{"second selection bad", []string{"--netns", "inputs-no-such-ns", "--all"}, "no network namespace named"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			e := defaultEnv()
			e.stdout, e.stderr = &stdout, &stderr
			e.euid = func() int { return 0 }
			code := execute(t.Context(), append([]string{"run", "network-graph", "--duration", "1s"}, tt.args...), e)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr %q", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr = %q, want one line containing %q", stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String(), "run as root") && os.Geteuid() == 0 {
				t.Errorf("stderr %q tells root to run as root", stderr.String())
			}
		})
	}
}
