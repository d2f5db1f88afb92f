// Package builtin hosts plugins written in Go and compiled into the
// binary: it turns a plain function into a plugin.Formatter or
// plugin.Enricher with the same failure behaviour as the out-of-process
// hosts. A call costs the function's own time; nothing is encoded or
// copied beyond what the function does.
package builtin

import (
	"context"
	"fmt"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// FormatFunc renders one batch.
type FormatFunc func(ctx context.Context, b plugin.Batch, params map[string]string) (plugin.Formatted, error)

// EnrichFunc enriches one batch and returns it as a JSON array of events.
type EnrichFunc func(ctx context.Context, b plugin.Batch, params map[string]string) ([]byte, error)

// Formatter returns a plugin.Formatter calling f. The manifest's Kind and
// ContractVersion are set for the caller. An error or panic of f becomes
// an error wrapping plugin.ErrPluginFailed that names the plugin and the
// batch; an empty media type in the result is the manifest's.
func Formatter(m abi.Manifest, f FormatFunc) plugin.Formatter {
	m.Kind, m.ContractVersion = abi.KindFormatter, abi.ContractVersion
	return &formatter{m: m, f: f}
}

// ValueFormatter returns a plugin.ValueFormatter calling f for batches of
// JSON and fv for batches of Go values (plugin.Batch.Values), with the same
// error handling as Formatter.
func ValueFormatter(m abi.Manifest, f, fv FormatFunc) plugin.ValueFormatter {
	m.Kind, m.ContractVersion = abi.KindFormatter, abi.ContractVersion
	return &valueFormatter{formatter: formatter{m: m, f: f}, fv: fv}
}

type valueFormatter struct {
	formatter
	fv FormatFunc
}

func (p *valueFormatter) FormatValues(ctx context.Context, b plugin.Batch, params map[string]string) (out plugin.Formatted, err error) {
	return p.call(ctx, p.fv, b, params)
}

// Enricher returns a plugin.Enricher calling f, with the same error
// handling as Formatter.
func Enricher(m abi.Manifest, f EnrichFunc) plugin.Enricher {
	m.Kind, m.ContractVersion = abi.KindEnricher, abi.ContractVersion
	m.MediaType, m.Streaming = "", false
	return &enricher{m: m, f: f}
}

type formatter struct {
	m abi.Manifest
	f FormatFunc
}

func (p *formatter) Manifest() abi.Manifest { return p.m }
func (p *formatter) Close() error           { return nil }

func (p *formatter) Format(ctx context.Context, b plugin.Batch, params map[string]string) (out plugin.Formatted, err error) {
	return p.call(ctx, p.f, b, params)
}

func (p *formatter) call(ctx context.Context, f FormatFunc, b plugin.Batch, params map[string]string) (out plugin.Formatted, err error) {
	defer recoverFailure(p.m.Name, b.Sequence, &err)
	out, err = f(ctx, b, params)
	if err != nil {
		return plugin.Formatted{}, failed(p.m.Name, b.Sequence, err)
	}
	if out.MediaType == "" {
		out.MediaType = p.m.MediaType
	}
	return out, nil
}

type enricher struct {
	m abi.Manifest
	f EnrichFunc
}

func (p *enricher) Manifest() abi.Manifest { return p.m }
func (p *enricher) Close() error           { return nil }

func (p *enricher) Enrich(ctx context.Context, b plugin.Batch, params map[string]string) (out []byte, err error) {
	defer recoverFailure(p.m.Name, b.Sequence, &err)
	out, err = p.f(ctx, b, params)
	if err != nil {
		return nil, failed(p.m.Name, b.Sequence, err)
	}
	return out, nil
}

// failed wraps err as the failure of one call of the plugin.
func failed(name string, seq uint64, err error) error {
	return fmt.Errorf("plugin %q (built-in): batch %d: %w: %w", name, seq, plugin.ErrPluginFailed, err)
}

// recoverFailure turns a panic of the plugin function into its error.
func recoverFailure(name string, seq uint64, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("plugin %q (built-in): batch %d: %w: panic: %v", name, seq, plugin.ErrPluginFailed, r)
	}
}
