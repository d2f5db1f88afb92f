package chain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/chain"
	"github.com/gadgetkit/gadget/framework/plugin/loader"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// lines is a built-in formatter writing the number of events of a batch.
func lines() plugin.Formatter {
	return builtin.Formatter(abi.Manifest{Name: "count", MediaType: "text/plain", Streaming: true},
		func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
			var events []json.RawMessage
			if err := json.Unmarshal(b.Events, &events); err != nil {
				return plugin.Formatted{}, err
			}
			return plugin.Formatted{Data: []byte{byte('0' + len(events)), '\n'}}, nil
		})
}

func withSupport(s *pipeline.Support) *gadget.Info {
	info := &gadget.Info{Name: "probe"}
	if s != nil {
		info.Extensions = []gadget.Extension{s}
	}
	return info
}

// TestLoad checks that the chain takes the built-in formatters from the
// gadget's declared Support, runs them in the pipeline it builds, and that
// a gadget without Support has no built-in plugin.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	info := withSupport(&pipeline.Support{Formatters: func() []plugin.Formatter { return []plugin.Formatter{lines()} }})
	c, err := chain.Load(ctx, info, "count", nil, loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p, err := c.Pipeline(ctx, nil, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pipeline(ctx, nil, &out, &out); err == nil {
		t.Error("a second Pipeline of the same chain was built")
	}
	c.Close() // the pipeline owns the plugins: a no-op
	if err := p.Batch(json.RawMessage(`[{"a":1},{"a":2}]`)); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2\n" {
		t.Errorf("output %q, want the count formatter's 2", out.String())
	}

	_, err = chain.Load(ctx, withSupport(nil), "count", nil, loader.Options{})
	if !errors.Is(err, plugin.ErrNotFound) {
		t.Errorf("Load of a built-in for a gadget without Support: %v, want ErrNotFound", err)
	}
	if _, ok := pipeline.SupportOf(withSupport(nil)); ok {
		t.Error("SupportOf found Support in a gadget that declares none")
	}
}
