package wasm

import (
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

func TestRegister(t *testing.T) {
	noop := func(abi.Request) ([]byte, error) { return nil, nil }
	tests := []struct {
		name    string
		first   *abi.Manifest // registered before, if set
		m       abi.Manifest
		h       Handler
		wantErr string // "" for success
	}{
		{name: "ok", m: abi.Manifest{Name: "graphml"}, h: noop},
		{name: "second", first: &abi.Manifest{Name: "graphml"}, m: abi.Manifest{Name: "dot"}, h: noop,
			wantErr: `formatter "dot" registered after "graphml": a module is one plugin`},
		{name: "bad name", m: abi.Manifest{Name: "Bad Name/../x"}, h: noop,
			wantErr: `bad plugin name: "Bad Name/../x": use lower-case letters`},
		{name: "no name", m: abi.Manifest{}, h: noop, wantErr: "the manifest has no name"},
		{name: "nil handler", m: abi.Manifest{Name: "x"}, wantErr: `formatter "x" registered with a nil handler`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := registered
			t.Cleanup(func() { registered = saved })
			registered.handler, registered.name = nil, ""
			if tt.first != nil {
				Formatter(*tt.first, noop)
			}
			msg := func() (msg string) {
				defer func() {
					if r := recover(); r != nil {
						msg = r.(string)
					}
				}()
				Formatter(tt.m, tt.h)
				return ""
			}()
			switch {
			case tt.wantErr == "" && msg != "":
				t.Fatalf("Formatter panicked: %s", msg)
			case tt.wantErr != "" && !strings.Contains(msg, tt.wantErr):
				t.Fatalf("Formatter panicked with %q, want it to contain %q", msg, tt.wantErr)
			case tt.wantErr == "" && registered.name != tt.m.Name:
				t.Fatalf("registered %q, want %q", registered.name, tt.m.Name)
			}
		})
	}
}
