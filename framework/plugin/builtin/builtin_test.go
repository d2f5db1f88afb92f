package builtin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

func TestFailures(t *testing.T) {
	b := plugin.Batch{Sequence: 5, Events: []byte("[]")}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"formatter panic", func() error {
			f := builtin.Formatter(abi.Manifest{Name: "p"}, func(context.Context, plugin.Batch, map[string]string) (plugin.Formatted, error) {
				panic("boom")
			})
			_, err := f.Format(context.Background(), b, nil)
			return err
		}, `plugin "p" (built-in): batch 5: plugin failed: panic: boom`},
		{"enricher error", func() error {
			e := builtin.Enricher(abi.Manifest{Name: "e"}, func(context.Context, plugin.Batch, map[string]string) ([]byte, error) {
				return nil, errors.New("no")
			})
			_, err := e.Enrich(context.Background(), b, nil)
			return err
		}, `plugin "e" (built-in): batch 5: plugin failed: no`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, plugin.ErrPluginFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q wrapping ErrPluginFailed", err, tt.want)
			}
		})
	}
}

func TestManifestDefaults(t *testing.T) {
	f := builtin.Formatter(abi.Manifest{Name: "x", MediaType: "text/plain", Kind: abi.KindEnricher}, func(context.Context, plugin.Batch, map[string]string) (plugin.Formatted, error) {
		return plugin.Formatted{Data: []byte("x")}, nil
	})
	m := f.Manifest()
	if m.Kind != abi.KindFormatter || m.ContractVersion != abi.ContractVersion {
		t.Errorf("Manifest() = %+v, want kind formatter, version %d", m, abi.ContractVersion)
	}
	out, err := f.Format(context.Background(), plugin.Batch{}, nil)
	if err != nil || out.MediaType != "text/plain" {
		t.Errorf("Format = %+v, %v; want the manifest's media type", out, err)
	}
}
