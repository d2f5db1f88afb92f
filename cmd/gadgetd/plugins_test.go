package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/eventtypes"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/gadgets/networkgraph"
	"github.com/gadgetkit/gadget/gadgets/networkgraph/types"
)

func TestTracePlugins(t *testing.T) {
	hook := tracePlugins(t.TempDir(), t.TempDir(), nil, nil)
	info := networkgraph.Info()

	t.Run("no plugins: parameters pass through", func(t *testing.T) {
		rest, mk, err := hook(info, map[string]string{"interval": "1s"})
		if err != nil || mk != nil || rest["interval"] != "1s" || len(rest) != 1 {
			t.Fatalf("hook = %v, %v, %v; want the parameters back and no plugins", rest, mk != nil, err)
		}
	})

	t.Run("a built-in formatter renders the Status output", func(t *testing.T) {
		rest, mk, err := hook(info, map[string]string{"interval": "1s", "formatter": "dot"})
		if err != nil || mk == nil {
			t.Fatalf("hook: %v (plugins: %v)", err, mk != nil)
		}
		if _, ok := rest["formatter"]; ok || rest["interval"] != "1s" {
			t.Errorf("parameters left for the gadget = %v, want interval only", rest)
		}
		var out, errw bytes.Buffer
		o, err := mk(t.Context(), &out, &errw)
		if err != nil {
			t.Fatal(err)
		}
		e := types.Event{Event: eventtypes.Event{Type: eventtypes.NORMAL, Node: "n", Namespace: "demo", Pod: "web"},
			PktType: "OUTGOING", Proto: "tcp", IP: "10.0.0.2", Port: 80, RemoteKind: "other", RemoteOther: "10.0.0.2"}
		if err := o.Batch([]types.Event{e, e}); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "digraph") || strings.Count(out.String(), "->") != 1 {
			t.Errorf("Status output with formatter dot:\n%s\nstderr: %s", out.String(), errw.String())
		}
	})

	for _, tt := range []struct {
		name   string
		params map[string]string
		want   string
		is     error
	}{
		{"a path is refused", map[string]string{"formatter": "/usr/bin/true"}, "", loader.ErrInvalidSpec},
		{"dot-dot is refused", map[string]string{"enrichers": "../x"}, "", loader.ErrInvalidSpec},
		{"an unknown name names the plugin dir", map[string]string{"formatter": "nope"}, "--plugin-dir", nil},
		{"an empty enricher name", map[string]string{"enrichers": "a,,b"}, "enrichers", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := hook(info, tt.params)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("hook(%v) error = %v, want one containing %q (is %v)", tt.params, err, tt.want, tt.is)
			}
		})
	}
}
