// Package wasm hosts plugins compiled to WebAssembly, run by wazero. A
// plugin is a WASI reactor module exporting the raw ABI of docs/plugins.md
// (gadget_manifest, gadget_alloc, gadget_call); the Go guest SDK in
// plugins/sdk/wasm writes that ABI for Go plugins.
//
// Costs, measured on a 2-core machine: compiling a 2 MB Go guest takes
// about 0.6 s (about 26 ms from the on-disk cache of Options.CacheDir),
// instantiating one about 5 ms, a call about 50 ns plus the guest's work
// and the JSON of the batch. A Host therefore compiles each file once
// (keyed by the SHA-256 of its content) and every plugin keeps a pool of
// instances reused across batches. An instance serves one call at a time.
//
// A guest sees nothing of the machine: WASI with no file system, no
// environment, no arguments, deterministic clocks (unless
// Options.GrantClock) and a deterministic random source. Its memory is
// capped by Options.MemoryLimitPages and every call by Options.CallTimeout,
// which a fuel meter compiled into the module enforces (see Host).
package wasm

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/wasm/internal/meter"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// Defaults of Options.
const (
	// DefaultMemoryLimitPages caps a guest's memory at 256 MiB (64 KiB
	// pages).
	DefaultMemoryLimitPages = 4096
	// DefaultCallTimeout bounds one call.
	DefaultCallTimeout = 30 * time.Second
	// DefaultMaxResultBytes bounds the encoded response of one call.
	DefaultMaxResultBytes = 64 << 20
	// DefaultMaxIdle is the number of idle instances a plugin keeps.
	DefaultMaxIdle = 2
)

// Options configure a Host. The zero value is usable: every zero field
// takes its default.
type Options struct {
	// CacheDir, when set, keeps compiled modules on disk across runs:
	// wazero's compilation cache, and in CacheDir/metered the modules
	// the fuel meter rewrote (see meterCache). It is created if missing;
	// give each user their own (the CLI uses os.UserCacheDir), as its
	// content is trusted like the plugins themselves.
	CacheDir string
	// MemoryLimitPages caps the memory of every instance, in 64 KiB
	// pages; default DefaultMemoryLimitPages.
	MemoryLimitPages uint32
	// CallTimeout bounds every call, including an instance's start;
	// default DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxResultBytes bounds the encoded response of one call; default
	// DefaultMaxResultBytes.
	MaxResultBytes int
	// MaxIdle is the number of idle instances kept per plugin; default
	// DefaultMaxIdle.
	MaxIdle int
	// GrantClock gives guests the real wall and monotonic clocks instead
	// of deterministic fake ones.
	GrantClock bool
	// Logger receives one debug line per compiled or instantiated module;
	// nil logs nothing.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = DefaultMaxResultBytes
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = DefaultMaxIdle
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Host runs WASM plugins in wazero. It is safe for concurrent use; Close
// it when its plugins are no longer needed.
//
// A call's deadline is enforced by a fuel meter compiled into the module
// (internal/meter): every function call and every 64th loop iteration of
// a call spend a unit of fuel, and when it runs out (at most about every
// million iterations) the guest asks the host for more, which fails the
// call once its context is done. Modules the meter cannot rewrite run in a
// second runtime with wazero's WithCloseOnContextDone, which leaves the
// compiled code for Go on every loop iteration and makes Go guests 4–5
// times slower.
type Host struct {
	opts Options
	// rt runs metered modules, rtChecked the others.
	rt, rtChecked wazero.Runtime
	cache         wazero.CompilationCache
	meterCache    meterCache

	mu       sync.Mutex
	compiled map[[sha256.Size]byte]compiled
	closed   bool
}

// compiled is a compiled module and the runtime it belongs to.
type compiled struct {
	cm wazero.CompiledModule
	rt wazero.Runtime
}

// fuel is the fuel a guest spends between two checks of its call's
// context: one unit per function call or meter.LoopsPerFuel loop
// iterations, so at most about a million iterations, a few milliseconds.
const fuel = 1 << 14

// NewHost returns a Host configured by opts. It fails when the cache
// directory cannot be created.
func NewHost(ctx context.Context, opts Options) (*Host, error) {
	opts = opts.withDefaults()
	// The memory of an instance is reserved at its cap: growing it would
	// copy it on every memory.grow, which a Go guest decoding a large
	// batch does many times. The reservation is virtual until touched.
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(opts.MemoryLimitPages).
		WithMemoryCapacityFromMax(true)
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm plugin cache directory %s: %w", opts.CacheDir, err)
		}
		cache = c
		cfg = cfg.WithCompilationCache(c)
	}
	h := &Host{opts: opts, cache: cache, compiled: map[[sha256.Size]byte]compiled{}}
	if opts.CacheDir != "" {
		h.meterCache = meterCache{dir: filepath.Join(opts.CacheDir, meteredDir)}
	}
	h.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	h.rtChecked = wazero.NewRuntimeWithConfig(ctx, cfg.WithCloseOnContextDone(true))
	_, err := h.rt.NewHostModuleBuilder(meter.ImportModule).
		NewFunctionBuilder().
		WithGoFunction(api.GoFunc(refuel), nil, []api.ValueType{api.ValueTypeI32}).
		Export(meter.ImportName).
		Instantiate(ctx)
	if err == nil {
		_, err = wasi_snapshot_preview1.Instantiate(ctx, h.rt)
	}
	if err == nil {
		_, err = wasi_snapshot_preview1.Instantiate(ctx, h.rtChecked)
	}
	if err != nil {
		_ = h.Close(ctx)
		return nil, fmt.Errorf("wasm host: instantiate WASI: %w", err)
	}
	return h, nil
}

// refuel is the meter's import: it gives a guest more fuel, or stops it
// with the exit code of its call's context once that is done. The check
// runs in Go, where the goroutine can be preempted, so a spinning guest
// can never starve the timer of its own deadline.
func refuel(ctx context.Context, stack []uint64) {
	deadline, ok := ctx.Deadline()
	err := ctx.Err()
	switch {
	case ok && !time.Now().Before(deadline), errors.Is(err, context.DeadlineExceeded):
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	case err != nil:
		panic(sys.NewExitError(sys.ExitCodeContextCanceled))
	}
	stack[0] = fuel
}

// Close closes every plugin of the host and the runtime.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	var err error
	for _, rt := range []wazero.Runtime{h.rt, h.rtChecked} {
		if rt != nil {
			err = errors.Join(err, rt.Close(ctx))
		}
	}
	if h.cache != nil {
		err = errors.Join(err, h.cache.Close(ctx))
	}
	return err
}

// OpenFormatter loads the formatter in the WASM file at path: it compiles
// the module unless a file of the same content was (about 0.6 s for a Go
// guest, far less from the disk cache) and starts one instance (about
// 5 ms). Errors wrap plugin.ErrNotFound when the file does not exist,
// plugin.ErrIncompatible when the module is no formatter of this contract
// version and plugin.ErrPluginFailed when it fails to start.
func (h *Host) OpenFormatter(ctx context.Context, path string) (plugin.Formatter, error) {
	m, err := h.open(ctx, path, abi.KindFormatter)
	if err != nil {
		return nil, err
	}
	return formatter{m}, nil
}

// OpenEnricher loads the enricher in the WASM file at path, with the
// errors of OpenFormatter.
func (h *Host) OpenEnricher(ctx context.Context, path string) (plugin.Enricher, error) {
	m, err := h.open(ctx, path, abi.KindEnricher)
	if err != nil {
		return nil, err
	}
	return enricher{m}, nil
}

// open compiles (or reuses) the module of path, starts one instance to
// read its manifest and keeps that instance in the plugin's pool.
func (h *Host) open(ctx context.Context, path string, kind abi.Kind) (*module, error) {
	code, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("wasm plugin %s: %w: check the path", path, plugin.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("wasm plugin %s: %w", path, err)
	}
	cm, err := h.compile(ctx, path, code)
	if err != nil {
		return nil, err
	}
	if err := checkExports(cm.cm); err != nil {
		return nil, fmt.Errorf("wasm plugin %s: %w: %w", path, plugin.ErrIncompatible, err)
	}
	m := &module{host: h, path: path, label: path, cm: cm.cm, rt: cm.rt}
	in, err := m.instantiate(ctx)
	if err != nil {
		return nil, fmt.Errorf("wasm plugin %s: start: %w: %w", path, plugin.ErrPluginFailed, err)
	}
	man, err := in.manifest(ctx, h.opts)
	if err != nil {
		in.close()
		return nil, fmt.Errorf("wasm plugin %s: read its manifest: %w: %w", path, plugin.ErrPluginFailed, err)
	}
	if err := checkManifest(man, kind); err != nil {
		in.close()
		return nil, fmt.Errorf("wasm plugin %s: %w: %w", path, plugin.ErrIncompatible, err)
	}
	m.manifest = man
	m.label = fmt.Sprintf("%q (%s)", man.Name, path)
	m.release(in)
	return m, nil
}

// compile returns the compiled module of code, compiling it on first use:
// metered when the meter understands it, else in the checked runtime.
func (h *Host) compile(ctx context.Context, path string, code []byte) (compiled, error) {
	sum := sha256.Sum256(code)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return compiled{}, fmt.Errorf("wasm plugin %s: host closed", path)
	}
	if c, ok := h.compiled[sum]; ok {
		return c, nil
	}
	start := time.Now()
	c := compiled{rt: h.rt}
	metered, err := h.meterCache.instrument(code, sum)
	if err != nil {
		h.opts.Logger.Debug("wasm plugin not metered: its calls check their deadline on every loop", "plugin", path, "reason", err)
		c.rt, metered = h.rtChecked, code
	}
	if c.cm, err = c.rt.CompileModule(ctx, metered); err != nil {
		return compiled{}, fmt.Errorf("wasm plugin %s: %w: not a valid WebAssembly module: %w", path, plugin.ErrIncompatible, err)
	}
	h.opts.Logger.Debug("wasm plugin compiled", "plugin", path, "took", time.Since(start))
	h.compiled[sum] = c
	return c, nil
}

// abiExports are the functions of the raw ABI with their signatures.
var abiExports = []struct {
	name            string
	params, results []api.ValueType
	sig             string // as docs/plugins.md writes it
}{
	{exportManifest, nil, []api.ValueType{api.ValueTypeI64}, "() -> i64"},
	{exportAlloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}, "(size i32) -> i32"},
	{exportCall, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}, "(ptr i32, len i32) -> i64"},
}

// checkExports checks that the module is a reactor exporting the raw ABI
// with the documented signatures.
func checkExports(cm wazero.CompiledModule) error {
	fns := cm.ExportedFunctions()
	if _, ok := fns["_start"]; ok {
		if _, ok := fns["_initialize"]; !ok {
			return errors.New("the module is a WASI command (it exports _start), not a reactor: " +
				"build a Go plugin with -buildmode=c-shared (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared), a C one with -mexec-model=reactor")
		}
	}
	for _, e := range abiExports {
		fn, ok := fns[e.name]
		if !ok {
			return fmt.Errorf("the module does not export %s: build it with the SDK of plugins/sdk/wasm or see docs/plugins.md", e.name)
		}
		if !slices.Equal(fn.ParamTypes(), e.params) || !slices.Equal(fn.ResultTypes(), e.results) {
			return fmt.Errorf("the module's %s is %s, want %s: declare it as docs/plugins.md's raw ABI says", e.name, signature(fn), e.sig)
		}
	}
	if len(cm.ExportedMemories()) == 0 {
		return errors.New("the module exports no memory")
	}
	return nil
}

// signature writes fn's type as docs/plugins.md does, e.g. "(i32, i32) -> i32".
func signature(fn api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	res := names(fn.ResultTypes())
	if res == "" {
		res = "()"
	}
	return "(" + names(fn.ParamTypes()) + ") -> " + res
}

// checkManifest checks that man describes a plugin of kind this host
// speaks, with a valid name.
func checkManifest(man abi.Manifest, kind abi.Kind) error {
	switch {
	case man.ContractVersion != abi.ContractVersion:
		return fmt.Errorf("contract version %d: this gadget speaks version %d", man.ContractVersion, abi.ContractVersion)
	case man.Kind != kind:
		return fmt.Errorf("plugin %q is a %q, not a %s", man.Name, man.Kind, kind)
	}
	return abi.CheckName(man.Name)
}
