package types_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

// edge returns an edge of pod demo/client with the given key fields.
func edge(pktType, proto, ip string, port int) types.Event {
	return types.Event{
		Event:   eventtypes.Event{Type: eventtypes.NORMAL, Node: "node-1", Namespace: "demo", Pod: "client"},
		PktType: pktType,
		Proto:   proto,
		IP:      ip,
		Port:    port,
	}
}

// with returns e with the given counters and times.
func with(e types.Event, packets, bytes uint64, first, last time.Time) types.Event {
	e.Packets, e.Bytes, e.FirstSeen, e.LastSeen = packets, bytes, first, last
	return e
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func TestKey(t *testing.T) {
	tests := []struct {
		name  string
		event types.Event
		want  string
	}{
		{"outgoing tcp", edge(types.PktTypeOutgoing, "tcp", "10.0.0.2", 80), "demo/client/OUTGOING/tcp/10.0.0.2/80"},
		{"incoming udp", edge(types.PktTypeHost, "udp", "10.0.0.9", 53), "demo/client/HOST/udp/10.0.0.9/53"},
		{"ipv6", edge(types.PktTypeOutgoing, "tcp", "fd00::1", 443), "demo/client/OUTGOING/tcp/fd00::1/443"},
		{"zero event", types.Event{}, "/////0"},
		{
			name: "local: no namespace",
			event: types.Event{
				Event:   eventtypes.Event{Pod: "netns-a"},
				PktType: types.PktTypeOutgoing, Proto: "udp", IP: "192.0.2.1", Port: 9,
			},
			want: "/netns-a/OUTGOING/udp/192.0.2.1/9",
		},
		{
			name: "fields outside the key are ignored",
			event: func() types.Event {
				e := edge(types.PktTypeOutgoing, "tcp", "10.0.0.2", 80)
				e.Node, e.Container, e.RemoteKind, e.Packets = "other-node", "c", types.RemoteKindPod, 7
				return e
			}(),
			want: "demo/client/OUTGOING/tcp/10.0.0.2/80",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.event.Key(); got != tc.want {
				t.Errorf("Key() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnique(t *testing.T) {
	a := edge(types.PktTypeOutgoing, "tcp", "10.0.0.2", 80)
	b := edge(types.PktTypeHost, "tcp", "10.0.0.3", 8080)
	c := edge(types.PktTypeOutgoing, "udp", "10.0.0.2", 80) // same as a but for the protocol
	untyped := a
	untyped.Type = "" // an edge too
	aRemote := a
	aRemote.RemoteKind, aRemote.RemotePodName = types.RemoteKindPod, "server"
	warn := types.Event{Event: eventtypes.Warn("node-1", "dropped 3 records")}
	warn2 := warn
	errEvent := types.Event{Event: eventtypes.Err("node-1", "attach failed")}

	tests := []struct {
		name string
		in   []types.Event
		want []types.Event
	}{
		{"nil", nil, []types.Event{}},
		{"empty", []types.Event{}, []types.Event{}},
		{"no duplicates keep their order", []types.Event{b, a, c}, []types.Event{b, a, c}},
		{
			name: "first occurrence keeps its place and fields",
			in:   []types.Event{a, b, aRemote, c},
			want: []types.Event{a, b, c},
		},
		{
			name: "untyped and normal edges merge",
			in:   []types.Event{untyped, a},
			want: []types.Event{untyped},
		},
		{
			name: "counters sum",
			in: []types.Event{
				with(a, 1, 100, time.Time{}, time.Time{}),
				with(b, 5, 500, time.Time{}, time.Time{}),
				with(a, 2, 200, time.Time{}, time.Time{}),
				with(a, 3, 300, time.Time{}, time.Time{}),
			},
			want: []types.Event{
				with(a, 6, 600, time.Time{}, time.Time{}),
				with(b, 5, 500, time.Time{}, time.Time{}),
			},
		},
		{
			name: "times widen",
			in: []types.Event{
				with(a, 1, 10, at(10), at(20)),
				with(a, 1, 10, at(5), at(15)),
				with(a, 1, 10, at(12), at(30)),
			},
			want: []types.Event{with(a, 3, 30, at(5), at(30))},
		},
		{
			name: "zero times do not narrow",
			in: []types.Event{
				with(a, 1, 10, at(10), at(20)),
				with(a, 1, 10, time.Time{}, time.Time{}),
			},
			want: []types.Event{with(a, 2, 20, at(10), at(20))},
		},
		{
			name: "times fill in when the first has none",
			in: []types.Event{
				with(a, 1, 10, time.Time{}, time.Time{}),
				with(a, 1, 10, at(10), at(20)),
			},
			want: []types.Event{with(a, 2, 20, at(10), at(20))},
		},
		{
			name: "warn and err events are kept as they are, in order",
			in:   []types.Event{warn, a, errEvent, a, warn2, b},
			want: []types.Event{warn, a, errEvent, warn2, b},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := types.Unique(in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Unique() =\n%s\nwant\n%s", types.EventsString(got), types.EventsString(tc.want))
			}
			if !reflect.DeepEqual(in, tc.in) {
				t.Errorf("Unique() modified its input:\n%s\nwas\n%s", types.EventsString(in), types.EventsString(tc.in))
			}
			// A Graph fed the same events in batches of one and two
			// merges them as Unique does.
			for _, size := range []int{1, 2} {
				var g types.Graph
				for chunk := range slices.Chunk(in, size) {
					g.Add(chunk...)
				}
				got := g.Events()
				if got == nil {
					got = []types.Event{}
				}
				if !reflect.DeepEqual(got, tc.want) || g.Len() != len(tc.want) {
					t.Errorf("Graph.Add in batches of %d: %d events\n%s\nwant\n%s", size, g.Len(), types.EventsString(got), types.EventsString(tc.want))
				}
			}
		})
	}
}

func TestEventsString(t *testing.T) {
	full := edge(types.PktTypeOutgoing, "tcp", "10.0.0.2", 80)
	full.Container = "app"
	full.RemoteKind = types.RemoteKindSvc
	full.PodLabels = map[string]string{"app": "client"}
	full.RemoteSvcNamespace, full.RemoteSvcName = "demo", "server"
	full.RemoteSvcLabelSelector = map[string]string{"app": "server"}
	full = with(full, 3, 180, at(1), at(2))

	tests := []struct {
		name string
		in   []types.Event
	}{
		{"nil", nil},
		{"empty", []types.Event{}},
		{"one edge", []types.Event{edge(types.PktTypeHost, "udp", "10.0.0.9", 53)}},
		{"full edge and a warning", []types.Event{full, {Event: eventtypes.Warn("node-1", "map full")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := types.EventsString(tc.in)
			if len(tc.in) == 0 && s != "[]" {
				t.Errorf("EventsString() = %q, want []", s)
			}
			if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
				t.Errorf("EventsString() is not one JSON array: %q", s)
			}
			var back []types.Event
			if err := json.Unmarshal([]byte(s), &back); err != nil {
				t.Fatalf("EventsString() is not valid JSON: %v\n%s", err, s)
			}
			want := tc.in
			if want == nil {
				want = []types.Event{}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("round trip =\n%s\nwant\n%s", types.EventsString(back), s)
			}
		})
	}
}

// seedTags are the JSON names of the seed's Event, by Go field, base event
// included. Every one is omitted when empty.
var seedTags = map[string]string{
	"Type": "type", "Message": "message", "Node": "node",
	"Namespace": "namespace", "Pod": "pod", "Container": "container",

	"PktType": "pktType", "Proto": "proto", "IP": "ip", "Port": "port",
	"RemoteKind": "remoteKind",
	"PodHostIP":  "podHostIP", "PodIP": "podIP", "PodOwner": "podOwner", "PodLabels": "podLabels",
	"RemoteSvcNamespace":     "remoteServiceNamespace",
	"RemoteSvcName":          "remoteServiceName",
	"RemoteSvcLabelSelector": "remoteServiceLabelSelector",
	"RemotePodNamespace":     "remotePodNamespace",
	"RemotePodName":          "remotePodName",
	"RemotePodLabels":        "remotePodLabels",
	"RemoteOther":            "remoteOther",
	"Debug":                  "debug",
}

// jsonFields lists the JSON-visible fields of a struct type, flattening
// the embedded base event as encoding/json does.
func jsonFields(t *testing.T, typ reflect.Type) map[string]reflect.StructField {
	t.Helper()
	fields := map[string]reflect.StructField{}
	for _, f := range reflect.VisibleFields(typ) {
		if f.Anonymous || !f.IsExported() {
			continue
		}
		if _, dup := fields[f.Name]; dup {
			t.Fatalf("field %s is declared twice", f.Name)
		}
		fields[f.Name] = f
	}
	return fields
}

func TestJSONTags(t *testing.T) {
	fields := jsonFields(t, reflect.TypeFor[types.Event]())
	for goName, jsonName := range seedTags {
		t.Run(goName, func(t *testing.T) {
			f, ok := fields[goName]
			if !ok {
				t.Fatalf("Event has no field %s (JSON %q)", goName, jsonName)
			}
			if got, want := f.Tag.Get("json"), jsonName+",omitempty"; got != want {
				t.Errorf("json tag = %q, want %q", got, want)
			}
		})
	}
	// Fields added since the seed are additive: omitted when empty.
	for name, f := range fields {
		if _, seed := seedTags[name]; seed {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tag := f.Tag.Get("json")
			if !strings.HasSuffix(tag, ",omitempty") && !strings.HasSuffix(tag, ",omitzero") {
				t.Errorf("added field %s: json tag %q must end with omitempty or omitzero", name, tag)
			}
		})
	}
}

func TestJSONForm(t *testing.T) {
	full := types.Event{
		Event: eventtypes.Event{
			Type: eventtypes.NORMAL, Message: "m", Node: "n", Namespace: "ns", Pod: "p", Container: "c",
		},
		PktType: types.PktTypeHost, Proto: "tcp", IP: "10.0.0.1", Port: 1,
		RemoteKind: types.RemoteKindOther,
		PodHostIP:  "192.0.2.1", PodIP: "10.0.0.5", PodOwner: "deploy", PodLabels: map[string]string{"a": "b"},
		RemoteSvcNamespace: "sns", RemoteSvcName: "svc", RemoteSvcLabelSelector: map[string]string{"c": "d"},
		RemotePodNamespace: "pns", RemotePodName: "pod", RemotePodLabels: map[string]string{"e": "f"},
		RemoteOther: "1.1.1.1", Debug: "dbg",
	}
	var seedKeys []string
	for _, k := range seedTags {
		seedKeys = append(seedKeys, k)
	}
	slices.Sort(seedKeys)

	tests := []struct {
		name  string
		event types.Event
		keys  []string
	}{
		{"zero event", types.Event{}, nil},
		{"every seed field set", full, seedKeys},
		{"warning", types.Event{Event: eventtypes.Warn("n", "dropped")}, []string{"message", "node", "type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.event)
			if err != nil {
				t.Fatal(err)
			}
			if tc.keys == nil && string(b) != "{}" {
				t.Errorf("Marshal = %s, want {}", b)
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(b, &obj); err != nil {
				t.Fatal(err)
			}
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.keys) {
				t.Errorf("JSON keys = %v, want %v", keys, tc.keys)
			}
			var back types.Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.event) {
				t.Errorf("round trip = %+v, want %+v", back, tc.event)
			}
		})
	}
}

func TestGetBaseEvent(t *testing.T) {
	tests := []struct {
		name string
		base eventtypes.Event
	}{
		{"zero", eventtypes.Event{}},
		{"edge", eventtypes.Event{Type: eventtypes.NORMAL, Node: "n", Namespace: "ns", Pod: "p", Container: "c"}},
		{"warning", eventtypes.Warn("n", "dropped")},
		{"error", eventtypes.Err("n", "failed")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := types.Event{Event: tc.base, PktType: types.PktTypeOutgoing, Port: 80, Packets: 1}
			if got := e.GetBaseEvent(); got != tc.base {
				t.Errorf("GetBaseEvent() = %+v, want %+v", got, tc.base)
			}
		})
	}
}

func TestIsEdge(t *testing.T) {
	tests := []struct {
		typ  eventtypes.EventType
		want bool
	}{
		{"", true},
		{eventtypes.NORMAL, true},
		{eventtypes.WARN, false},
		{eventtypes.ERR, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.typ), func(t *testing.T) {
			e := types.Event{Event: eventtypes.Event{Type: tc.typ}}
			if got := e.IsEdge(); got != tc.want {
				t.Errorf("IsEdge() with Type %q = %v, want %v", tc.typ, got, tc.want)
			}
		})
	}
}

func TestEventsStringSorted(t *testing.T) {
	warn := types.Event{Event: eventtypes.Warn("n", "dropped")}
	b := types.Event{Event: eventtypes.Event{Pod: "b"}, PktType: types.PktTypeHost, Proto: "tcp", IP: "10.0.0.1", Port: 80}
	a := types.Event{Event: eventtypes.Event{Pod: "a"}, PktType: types.PktTypeOutgoing, Proto: "udp", IP: "10.0.0.2", Port: 53}
	in := []types.Event{warn, b, a}
	var got []types.Event
	if err := json.Unmarshal([]byte(types.EventsString(in)), &got); err != nil {
		t.Fatal(err)
	}
	want := []types.Event{a, b, warn}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Key() != want[i].Key() || got[i].Type != want[i].Type {
			t.Errorf("event %d = %s (%s), want %s (%s)", i, got[i].Key(), got[i].Type, want[i].Key(), want[i].Type)
		}
	}
	if in[0].Type != eventtypes.WARN {
		t.Error("EventsString reordered its input")
	}
}
