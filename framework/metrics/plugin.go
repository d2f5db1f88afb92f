package metrics

import (
	"context"
	"errors"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Enricher returns e counting its calls, failures and timeouts in s
// (e itself on a nil *Set).
func (s *Set) Enricher(e plugin.Enricher) plugin.Enricher {
	if s == nil || e == nil {
		return e
	}
	return countedEnricher{e, s}
}

// Formatter returns f counting its calls, failures and timeouts in s
// (f itself on a nil *Set).
func (s *Set) Formatter(f plugin.Formatter) plugin.Formatter {
	if s == nil || f == nil {
		return f
	}
	return countedFormatter{f, s}
}

type countedEnricher struct {
	plugin.Enricher
	set *Set
}

func (c countedEnricher) Enrich(ctx context.Context, b plugin.Batch, params map[string]string) ([]byte, error) {
	out, err := c.Enricher.Enrich(ctx, b, params)
	c.set.pluginCall(c.Manifest(), err)
	return out, err
}

type countedFormatter struct {
	plugin.Formatter
	set *Set
}

func (c countedFormatter) Format(ctx context.Context, b plugin.Batch, params map[string]string) (plugin.Formatted, error) {
	out, err := c.Formatter.Format(ctx, b, params)
	c.set.pluginCall(c.Manifest(), err)
	return out, err
}

func (s *Set) pluginCall(m abi.Manifest, err error) {
	s.PluginCall(m.Name, string(m.Kind), err != nil, errors.Is(err, context.DeadlineExceeded))
}
