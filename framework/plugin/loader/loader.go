// Package loader resolves what a user names with --formatter and
// --enricher (or a Trace's spec.parameters) to plugins of the right host:
//
//   - NAME: a built-in plugin of the gadget, else NAME.wasm or the
//     executable NAME in the plugin directory;
//   - PATH.wasm (any spec ending in .wasm or holding a '/'): a WASM
//     module run by wazero;
//   - any other PATH: a hashicorp/go-plugin executable.
//
// With Options.NamesOnly (a Trace custom resource), only names are
// accepted, so that a resource can never point the node agent at an
// arbitrary file.
package loader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gadgetkit/gadget/framework/metrics"
	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/goplugin"
	"github.com/gadgetkit/gadget/framework/plugin/wasm"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// ErrInvalidSpec is returned for a plugin spec that is not allowed, e.g. a
// path where only names are.
var ErrInvalidSpec = errors.New("invalid plugin spec")

// Options say where plugins are found and how they are run.
type Options struct {
	// Formatters and Enrichers are the gadget's built-in plugins, found
	// by their manifest name.
	Formatters []plugin.Formatter
	Enrichers  []plugin.Enricher
	// PluginDir is where names that are not built in are looked up, as
	// NAME.wasm or NAME. Empty: names are built-in only.
	PluginDir string
	// NamesOnly refuses paths.
	NamesOnly bool
	// Wasm configures the WASM host.
	Wasm wasm.Options
	// GoPlugin configures the go-plugin host.
	GoPlugin goplugin.Options
	// Privileged names the go-plugins that keep the host's privileges
	// (goplugin.Options.Privileged), by file name (NAME, as in
	// --plugin-dir) or by path; every other go-plugin of a root host runs
	// as nobody without capabilities.
	Privileged []string
	// Metrics, when set, counts the calls, failures, timeouts and
	// restarts of the loaded plugins.
	Metrics *metrics.Set
}

// goPluginOptions returns the go-plugin options of the plugin file path.
func goPluginOptions(path string, opts Options) goplugin.Options {
	o := opts.GoPlugin
	if opts.Metrics != nil {
		next := o.OnRestart
		o.OnRestart = func(name string) {
			opts.Metrics.PluginRestarted(name)
			if next != nil {
				next(name)
			}
		}
	}
	abs, _ := filepath.Abs(path)
	for _, p := range opts.Privileged {
		if p == filepath.Base(path) || p == path || p == abs {
			o.Privileged = true
		} else if pa, err := filepath.Abs(p); err == nil && pa == abs {
			o.Privileged = true
		}
	}
	return o
}

// Set is the loaded plugins of one trace.
type Set struct {
	Formatter plugin.Formatter
	Enrichers []plugin.Enricher
	host      *wasm.Host
}

// Close releases what Load started and not handed over: the WASM host.
// Close the plugins themselves first (a pipeline.Pipeline does).
func (s *Set) Close() error {
	if s.host == nil {
		return nil
	}
	return s.host.Close(context.Background())
}

// CloseAll closes the plugins of s and its host: what a caller does with a
// Set it does not hand to a pipeline (and Load after a failure).
func (s *Set) CloseAll() {
	if s.Formatter != nil {
		_ = s.Formatter.Close()
	}
	for _, e := range s.Enrichers {
		_ = e.Close()
	}
	_ = s.Close()
}

// Load resolves the formatter spec (empty: none) and the enricher specs,
// in order. Errors wrap plugin.ErrNotFound, plugin.ErrIncompatible or
// ErrInvalidSpec and name the spec.
func Load(ctx context.Context, formatter string, enrichers []string, opts Options) (*Set, error) {
	s := &Set{}
	var err error
	if formatter != "" {
		s.Formatter, err = loadFormatter(ctx, s, formatter, opts)
		if err != nil {
			s.CloseAll()
			return nil, fmt.Errorf("--formatter %s: %w", formatter, err)
		}
		s.Formatter = opts.Metrics.Formatter(s.Formatter)
	}
	for _, spec := range enrichers {
		e, err := loadEnricher(ctx, s, spec, opts)
		if err != nil {
			s.CloseAll()
			return nil, fmt.Errorf("--enricher %s: %w", spec, err)
		}
		s.Enrichers = append(s.Enrichers, opts.Metrics.Enricher(e))
	}
	return s, nil
}

func loadFormatter(ctx context.Context, s *Set, spec string, opts Options) (plugin.Formatter, error) {
	r, err := resolve(spec, opts, func(name string) bool {
		_, ok := byName(opts.Formatters, name)
		return ok
	})
	if err != nil {
		return nil, err
	}
	switch r.kind {
	case builtinPlugin:
		f, _ := byName(opts.Formatters, r.name)
		return f, nil
	case wasmPlugin:
		h, err := s.wasmHost(ctx, opts)
		if err != nil {
			return nil, err
		}
		return h.OpenFormatter(ctx, r.path)
	}
	return goplugin.OpenFormatter(ctx, r.path, goPluginOptions(r.path, opts))
}

func loadEnricher(ctx context.Context, s *Set, spec string, opts Options) (plugin.Enricher, error) {
	r, err := resolve(spec, opts, func(name string) bool {
		_, ok := byName(opts.Enrichers, name)
		return ok
	})
	if err != nil {
		return nil, err
	}
	switch r.kind {
	case builtinPlugin:
		e, _ := byName(opts.Enrichers, r.name)
		return e, nil
	case wasmPlugin:
		h, err := s.wasmHost(ctx, opts)
		if err != nil {
			return nil, err
		}
		return h.OpenEnricher(ctx, r.path)
	}
	return goplugin.OpenEnricher(ctx, r.path, goPluginOptions(r.path, opts))
}

// byName returns the plugin of plugins whose manifest is called name.
func byName[P interface{ Manifest() abi.Manifest }](plugins []P, name string) (P, bool) {
	for _, p := range plugins {
		if p.Manifest().Name == name {
			return p, true
		}
	}
	var zero P
	return zero, false
}

func (s *Set) wasmHost(ctx context.Context, opts Options) (*wasm.Host, error) {
	if s.host == nil {
		h, err := wasm.NewHost(ctx, opts.Wasm)
		if err != nil {
			return nil, err
		}
		s.host = h
	}
	return s.host, nil
}

type pluginKind int

const (
	builtinPlugin pluginKind = iota
	wasmPlugin
	goPlugin
)

type resolved struct {
	kind pluginKind
	name string
	path string
}

// namePattern is what a plugin name may look like: no '/', no "..".
var namePattern = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*$`)

// resolve tells what spec names. builtin reports whether a name is a
// built-in plugin of the right kind.
func resolve(spec string, opts Options, builtin func(string) bool) (resolved, error) {
	isPath := strings.ContainsRune(spec, '/') || strings.HasSuffix(spec, ".wasm") || spec == "." || spec == ".."
	if isPath {
		if opts.NamesOnly {
			return resolved{}, fmt.Errorf("%w: only plugin names are allowed here, not paths: use a built-in name or the name of a file in the plugin directory", ErrInvalidSpec)
		}
		if strings.HasSuffix(spec, ".wasm") {
			return resolved{kind: wasmPlugin, path: spec}, nil
		}
		return resolved{kind: goPlugin, path: spec}, nil
	}
	if !namePattern.MatchString(spec) || strings.Contains(spec, "..") {
		return resolved{}, fmt.Errorf("%w: a plugin name is lower-case letters, digits, '.', '_' and '-', e.g. dot", ErrInvalidSpec)
	}
	if builtin(spec) {
		return resolved{kind: builtinPlugin, name: spec}, nil
	}
	if opts.PluginDir != "" {
		if p := filepath.Join(opts.PluginDir, spec+".wasm"); isFile(p) {
			return resolved{kind: wasmPlugin, path: p}, nil
		}
		if p := filepath.Join(opts.PluginDir, spec); isFile(p) {
			return resolved{kind: goPlugin, path: p}, nil
		}
		return resolved{}, fmt.Errorf("%w: not built in, and neither %s.wasm nor %s is in the plugin directory %s",
			plugin.ErrNotFound, spec, spec, opts.PluginDir)
	}
	return resolved{}, fmt.Errorf("%w: not a built-in plugin and no plugin directory is set: give a path (./%s or %s.wasm) or --plugin-dir",
		plugin.ErrNotFound, spec, spec)
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// The keys of a Trace's spec.parameters that select plugins.
const (
	// ParamFormatter names the formatter, e.g. "dot".
	ParamFormatter = "formatter"
	// ParamEnrichers names the enrichers, comma-separated, in order, e.g.
	// "portnames,kubernetes".
	ParamEnrichers = "enrichers"
)

// FromParameters returns the formatter and enricher names of a Trace's
// spec.parameters (ParamFormatter, ParamEnrichers), for Load with
// Options.NamesOnly. Empty names in the list are an error naming the
// parameter.
func FromParameters(params map[string]string) (formatter string, enrichers []string, err error) {
	formatter = strings.TrimSpace(params[ParamFormatter])
	list := strings.TrimSpace(params[ParamEnrichers])
	if list == "" {
		return formatter, nil, nil
	}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return "", nil, fmt.Errorf("%w: spec.parameters.%s %q: an empty name; list names separated by commas, e.g. portnames,kubernetes",
				ErrInvalidSpec, ParamEnrichers, list)
		}
		enrichers = append(enrichers, name)
	}
	return formatter, enrichers, nil
}
