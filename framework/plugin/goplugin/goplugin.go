// Package goplugin runs gadget plugins as hashicorp/go-plugin subprocesses
// speaking gRPC (plugins/sdk/goplugin/pluginpb/plugin.proto) and serves
// them through the plugin.Formatter and plugin.Enricher interfaces.
//
// A plugin process is started when the plugin is opened and lives until
// Close. Each batch costs one gRPC round trip (about 140 µs plus the time
// to copy the batch), so plugins are called once per batch, never per
// event. Calls to one plugin are serialised. A call that fails — the plugin
// panics or returns an error, runs past the deadline, returns garbage or an
// oversized result, or its process dies — returns one error wrapping
// plugin.ErrPluginFailed that names the plugin file and the batch. A plugin
// process that died or hung is killed and started again for the next call.
package goplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	sdk "github.com/gadgetkit/gadget/plugins/sdk/goplugin"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin/pluginpb"
)

// Defaults of Options.
const (
	DefaultCallTimeout   = 30 * time.Second
	DefaultMaxResultSize = 64 << 20
	// DefaultMemoryLimit caps a plugin process's data memory (its heap:
	// RLIMIT_DATA, private writable mappings): 1 GiB.
	DefaultMemoryLimit = 1 << 30
	// DefaultCPULimit bounds the CPU time one plugin process may use over
	// its life (RLIMIT_CPU): 10 minutes. A process past it is killed; the
	// call fails and the next call starts a fresh process.
	DefaultCPULimit = 10 * time.Minute
	// startTimeout bounds the start and handshake of a plugin process
	// when the context has no earlier deadline.
	startTimeout = 10 * time.Second
	// exitGrace is how long a call that lost its connection waits for
	// the process to be seen dead before it is killed.
	exitGrace = time.Second
)

// Options configure a go-plugin plugin. The zero value is usable.
type Options struct {
	// Checksum, when set, is the hex SHA-256 of the plugin file (as
	// printed by sha256sum). The file is checked before every start of
	// the process and not started when it differs.
	Checksum string
	// CallTimeout bounds one call; a call past it fails and its process
	// is killed (and started again on the next call). 0 means
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxResultSize bounds the size of one result in bytes. 0 means
	// DefaultMaxResultSize.
	MaxResultSize int
	// Logger receives go-plugin's messages and the plugin's stderr. nil
	// discards them.
	Logger *slog.Logger
	// MemoryLimit caps the data memory of the plugin process in bytes
	// (RLIMIT_DATA, set right after the handshake). 0 means
	// DefaultMemoryLimit, a negative value no cap.
	MemoryLimit int64
	// CPULimit bounds the CPU time of one plugin process (RLIMIT_CPU, in
	// whole seconds, rounded up). 0 means DefaultCPULimit, a negative
	// value no bound.
	CPULimit time.Duration
	// Privileged lets the plugin process keep the host's identity: its
	// user, groups and capabilities. Without it (the default) a host
	// running as root starts the plugin as UID:GID with no supplementary
	// groups and no capabilities; a host that is not root starts it as
	// itself. Either way the process has no_new_privs set (Linux) and a
	// clean environment. Grant it only to a plugin that needs root, e.g.
	// to read a root-only file; the operator decides, never the plugin.
	Privileged bool
	// UID and GID are the identity of an unprivileged plugin process
	// started by a root host; 0 means DefaultUID and DefaultGID (65534,
	// nobody). The plugin file and its directories must be executable by
	// it (OpenFormatter says so when they are not).
	UID, GID uint32
	// Env is the plugin process's environment, as KEY=VALUE, besides
	// go-plugin's handshake variables. The host's own environment is never
	// passed on: a plugin sees no token, proxy or credential of the host.
	Env []string
	// OnRestart, when set, is called with the plugin's name each time its
	// process is started again after it died or was killed (e.g. to count
	// restarts in the metrics). It must not block.
	OnRestart func(plugin string)
}

// OpenFormatter starts the go-plugin formatter at path and checks its
// manifest. Errors: plugin.ErrNotFound when path is not a file,
// plugin.ErrIncompatible when the plugin is not a formatter or speaks
// another contract version, plugin.ErrPluginFailed when it does not start.
func OpenFormatter(ctx context.Context, path string, opts Options) (plugin.Formatter, error) {
	h, err := open(ctx, path, abi.KindFormatter, opts)
	if err != nil {
		return nil, err
	}
	return formatter{h}, nil
}

// OpenEnricher starts the go-plugin enricher at path and checks its
// manifest, with the errors of OpenFormatter.
func OpenEnricher(ctx context.Context, path string, opts Options) (plugin.Enricher, error) {
	h, err := open(ctx, path, abi.KindEnricher, opts)
	if err != nil {
		return nil, err
	}
	return enricher{h}, nil
}

type formatter struct{ *host }

func (f formatter) Format(ctx context.Context, b plugin.Batch, params map[string]string) (plugin.Formatted, error) {
	resp, err := f.call(ctx, b, params)
	if err != nil {
		return plugin.Formatted{}, err
	}
	mt := resp.GetMediaType()
	if mt == "" {
		mt = f.manifest.MediaType
	}
	return plugin.Formatted{Data: resp.GetData(), MediaType: mt}, nil
}

type enricher struct{ *host }

func (e enricher) Enrich(ctx context.Context, b plugin.Batch, params map[string]string) ([]byte, error) {
	resp, err := e.call(ctx, b, params)
	if err != nil {
		return nil, err
	}
	out := resp.GetBatch()
	if !startsArray(out) {
		return nil, e.failed(b.Sequence, fmt.Errorf("result is not a JSON array of events: %.40q", out))
	}
	return out, nil
}

// startsArray reports whether b starts as a JSON array. The rest is read
// by the caller, which decodes it (plugin.Enricher): scanning it here too
// would read every enriched batch twice.
func startsArray(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '['
}

// host owns one plugin file and the process currently running it.
type host struct {
	path     string
	kind     abi.Kind
	opts     Options
	checksum []byte
	log      *slog.Logger
	manifest abi.Manifest
	label    string // `"name" (path)`, for errors

	// closing is cancelled by Close, to end a call in flight.
	closing context.Context
	cancel  context.CancelFunc

	mu     sync.Mutex // serialises calls and guards the fields below
	closed bool
	proc   *process
}

// process is one running plugin process.
type process struct {
	client *goplugin.Client
	cmd    *exec.Cmd
	rpc    pluginpb.PluginClient
	stderr *lastLine // what the process wrote to stderr before the handshake
}

func open(ctx context.Context, path string, kind abi.Kind, opts Options) (*host, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("go-plugin %s: %w", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("go-plugin %s: no such plugin file: %w", path, plugin.ErrNotFound)
	}
	h := &host{path: abs, kind: kind, opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("plugin", abs)
	if h.opts.CallTimeout <= 0 {
		h.opts.CallTimeout = DefaultCallTimeout
	}
	if h.opts.MaxResultSize <= 0 {
		h.opts.MaxResultSize = DefaultMaxResultSize
	}
	if h.opts.MemoryLimit == 0 {
		h.opts.MemoryLimit = DefaultMemoryLimit
	}
	if h.opts.CPULimit == 0 {
		h.opts.CPULimit = DefaultCPULimit
	}
	if opts.Checksum != "" {
		sum, err := hex.DecodeString(opts.Checksum)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("go-plugin %s: checksum %q is not a SHA-256 (64 hex digits); compute it with sha256sum", path, opts.Checksum)
		}
		h.checksum = sum
	}
	h.closing, h.cancel = context.WithCancel(context.Background())
	p, m, err := h.start(ctx)
	if err != nil {
		h.cancel()
		return nil, err
	}
	h.proc, h.manifest = p, m
	h.label = fmt.Sprintf("%q (%s)", m.Name, abs)
	return h, nil
}

// Manifest returns the manifest the plugin sent when it was opened.
func (h *host) Manifest() abi.Manifest { return h.manifest }

// Close ends a call in flight, stops the plugin process and waits for it
// to exit.
func (h *host) Close() error {
	h.cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.proc != nil {
		h.proc.stop(false)
		h.proc = nil
	}
	return nil
}

// start starts a plugin process, performs the handshake and checks the
// manifest.
func (h *host) start(ctx context.Context) (*process, abi.Manifest, error) {
	timeout := startTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	if err := ctx.Err(); err != nil {
		return nil, abi.Manifest{}, fmt.Errorf("go-plugin %s: start: %w: %w", h.path, plugin.ErrPluginFailed, err)
	}
	id := h.identity(os.Geteuid())
	if err := id.checkExecutable(h.path); err != nil {
		return nil, abi.Manifest{}, fmt.Errorf("go-plugin %s: start: %w: %v", h.path, plugin.ErrPluginFailed, err)
	}
	cmd := h.launcherCommand()
	// Only what the plugin needs: go-plugin adds its handshake variables
	// (SkipHostEnv keeps the host's out).
	cmd.Env = append([]string{}, h.opts.Env...)
	cmd.Dir = "/"
	id.restrict(cmd)
	cfg := &goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  abi.ContractVersion,
			MagicCookieKey:   sdk.MagicCookieKey,
			MagicCookieValue: sdk.MagicCookieValue,
		},
		Plugins:          goplugin.PluginSet{"plugin": grpcPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           newSlogLogger(h.log),
		StartTimeout:     timeout,
		// What the plugin writes to stdout or stderr after the handshake
		// is logged, never printed.
		SyncStdout: slogWriter{newSlogLogger(h.log.With("stream", "stdout"))},
		SyncStderr: slogWriter{newSlogLogger(h.log.With("stream", "stderr"))},
		GRPCDialOptions: []grpc.DialOption{
			// Room for the result plus its framing; larger results fail
			// with ResourceExhausted.
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(h.opts.MaxResultSize + 64<<10)),
			// The plugin's side of the connection is sized the same.
			grpc.WithInitialWindowSize(sdk.GRPCWindowSize),
			grpc.WithInitialConnWindowSize(sdk.GRPCWindowSize),
			grpc.WithReadBufferSize(sdk.GRPCBufferSize),
			grpc.WithWriteBufferSize(sdk.GRPCBufferSize),
		},
	}
	// The launcher, not the plugin, is the command go-plugin starts: the
	// plugin file's checksum is checked here, as go-plugin would.
	if err := h.checkChecksum(); err != nil {
		return nil, abi.Manifest{}, err
	}
	stderr := &lastLine{}
	cfg.Stderr = stderr
	p := &process{client: goplugin.NewClient(cfg), cmd: cfg.Cmd, stderr: stderr}
	m, err := h.handshake(ctx, p, id)
	if err != nil {
		p.stop(true)
		return nil, abi.Manifest{}, err
	}
	h.log.Debug("plugin started", "pid", p.cmd.Process.Pid, "name", m.Name)
	return p, m, nil
}

func (h *host) handshake(ctx context.Context, p *process, id identity) (abi.Manifest, error) {
	var cp goplugin.ClientProtocol
	err := startNoNewPrivs(func() error {
		var err error
		cp, err = p.client.Client()
		return err
	})
	if err != nil {
		if e := id.explainStart(h.path, err); e != nil {
			return abi.Manifest{}, fmt.Errorf("go-plugin %s: start: %w: %v", h.path, plugin.ErrPluginFailed, e)
		}
		switch {
		case strings.Contains(err.Error(), "incompatible API version"):
			return abi.Manifest{}, fmt.Errorf("go-plugin %s: speaks another contract version than %d: %w: %v", h.path, abi.ContractVersion, plugin.ErrIncompatible, err)
		case strings.Contains(err.Error(), "Unrecognized remote plugin message"):
			return abi.Manifest{}, h.noHandshake(p, err)
		}
		return abi.Manifest{}, fmt.Errorf("go-plugin %s: start: %w: %w", h.path, plugin.ErrPluginFailed, err)
	}
	raw, err := cp.Dispense("plugin")
	if err != nil {
		return abi.Manifest{}, fmt.Errorf("go-plugin %s: start: %w: %w", h.path, plugin.ErrPluginFailed, err)
	}
	p.rpc = raw.(pluginpb.PluginClient)
	mctx, cancel := context.WithTimeout(ctx, h.opts.CallTimeout)
	defer cancel()
	pm, err := p.rpc.GetManifest(mctx, &pluginpb.ManifestRequest{})
	if err != nil {
		return abi.Manifest{}, fmt.Errorf("go-plugin %s: manifest: %w: %w", h.path, plugin.ErrPluginFailed, err)
	}
	m := abi.Manifest{
		Name:            pm.GetName(),
		Kind:            abi.Kind(pm.GetKind()),
		ContractVersion: int(pm.GetContractVersion()),
		MediaType:       pm.GetMediaType(),
		Description:     pm.GetDescription(),
		Streaming:       pm.GetStreaming(),
	}
	if m.Kind != h.kind {
		return abi.Manifest{}, fmt.Errorf("go-plugin %s: is a %q plugin, not a %s: %w", h.path, m.Kind, h.kind, plugin.ErrIncompatible)
	}
	if m.ContractVersion != abi.ContractVersion {
		return abi.Manifest{}, fmt.Errorf("go-plugin %s: speaks contract version %d, gadget speaks %d: %w", h.path, m.ContractVersion, abi.ContractVersion, plugin.ErrIncompatible)
	}
	if err := abi.CheckName(m.Name); err != nil {
		return abi.Manifest{}, fmt.Errorf("go-plugin %s: %w: %w", h.path, plugin.ErrIncompatible, err)
	}
	return m, nil
}

// checkChecksum fails with plugin.ErrIncompatible when the plugin file's
// SHA-256 is not the pinned Options.Checksum.
func (h *host) checkChecksum() error {
	if h.checksum == nil {
		return nil
	}
	f, err := os.Open(h.path)
	if err != nil {
		return fmt.Errorf("go-plugin %s: start: %w: %w", h.path, plugin.ErrPluginFailed, err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return fmt.Errorf("go-plugin %s: start: %w: %w", h.path, plugin.ErrPluginFailed, err)
	}
	if !bytes.Equal(sum.Sum(nil), h.checksum) {
		return fmt.Errorf("go-plugin %s: the file's SHA-256 is not the pinned checksum %s; rebuild or re-pin it: %w", h.path, h.opts.Checksum, plugin.ErrIncompatible)
	}
	return nil
}

// noHandshake is the error of a process that never completed go-plugin's
// handshake: it exited, or wrote something else on stdout first.
func (h *host) noHandshake(p *process, err error) error {
	exited := p.waitExit(context.Background(), exitGrace)
	var b strings.Builder
	if exited && p.cmd.ProcessState != nil {
		fmt.Fprintf(&b, "the process exited (%s) before go-plugin's handshake", p.cmd.ProcessState)
	} else {
		b.WriteString("the process wrote something other than go-plugin's handshake line first on stdout")
	}
	if last := p.stderr.String(); last != "" {
		fmt.Fprintf(&b, "; its stderr: %q", last)
	}
	b.WriteString("; is it a gadget plugin? Its main must call goplugin.Serve (plugins/sdk/goplugin) and print nothing to stdout before")
	h.log.Debug("go-plugin handshake failed", "error", err)
	return fmt.Errorf("go-plugin %s: start: %w: %s", h.path, plugin.ErrPluginFailed, b.String())
}

// stop ends the process: gracefully through go-plugin unless kill is
// set, and waits for it and go-plugin's goroutines.
func (p *process) stop(kill bool) {
	if kill && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	p.client.Kill()
}

// failed returns the error of a failed call of batch seq.
func (h *host) failed(seq uint64, cause error) error {
	return fmt.Errorf("go-plugin %s: batch %d: %w: %w", h.label, seq, plugin.ErrPluginFailed, cause)
}

// call sends one batch. A call whose process turns out dead is tried once
// more on a fresh process.
func (h *host) call(ctx context.Context, b plugin.Batch, params map[string]string) (*pluginpb.Response, error) {
	req := &pluginpb.Request{
		ContractVersion: abi.ContractVersion,
		Kind:            string(h.kind),
		Gadget:          b.Gadget,
		Sequence:        b.Sequence,
		Final:           b.Final,
		Batch:           b.Events,
		Parameters:      params,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, h.failed(b.Sequence, errors.New("plugin is closed"))
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.CallTimeout)
	defer cancel()
	stopClosing := context.AfterFunc(h.closing, cancel)
	defer stopClosing()

	for attempt := 1; ; attempt++ {
		if h.proc == nil || h.proc.client.Exited() {
			if h.proc != nil {
				h.log.Warn("plugin process exited; starting it again", "batch", b.Sequence)
				h.proc.stop(true)
				h.proc = nil
			}
			p, m, err := h.start(ctx)
			if err != nil {
				return nil, h.failed(b.Sequence, fmt.Errorf("restart: %w", err))
			}
			if m.Name != h.manifest.Name {
				p.stop(false)
				return nil, h.failed(b.Sequence, fmt.Errorf("restart: the plugin file changed from %q to %q", h.manifest.Name, m.Name))
			}
			h.proc = p
			if h.opts.OnRestart != nil {
				h.opts.OnRestart(h.manifest.Name)
			}
		}
		resp, err := h.proc.rpc.Call(ctx, req)
		if err == nil {
			return h.check(b.Sequence, resp)
		}
		// The server side may see the deadline a moment before ctx does.
		late := errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
		if late || ctx.Err() != nil {
			// Past the deadline or cancelled: the plugin may be stuck, so
			// kill it; the next call starts it again.
			h.proc.stop(true)
			h.proc = nil
			if late {
				return nil, h.failed(b.Sequence, fmt.Errorf("no result within the deadline (call timeout %s): %w", h.opts.CallTimeout, context.DeadlineExceeded))
			}
			return nil, h.failed(b.Sequence, ctx.Err())
		}
		switch status.Code(err) {
		case codes.ResourceExhausted:
			return nil, h.failed(b.Sequence, fmt.Errorf("result larger than %d bytes: %w", h.opts.MaxResultSize, err))
		case codes.Unavailable, codes.Canceled, codes.Internal:
			// The connection broke: the process died or is unusable.
			exited := h.proc.waitExit(ctx, exitGrace)
			how, overLimit := "plugin process died", false
			if exited && h.proc.cmd.ProcessState != nil {
				// Safe to read: go-plugin sets it before Exited turns true.
				how, overLimit = h.deathCause(h.proc.cmd.ProcessState, h.proc.stderr.String())
			}
			h.proc.stop(true)
			h.proc = nil
			if overLimit {
				// The same batch would exceed the limit again.
				return nil, h.failed(b.Sequence, errors.New(how))
			}
			if attempt == 1 && exited {
				h.log.Warn(how+"; trying the batch once more on a new process", "batch", b.Sequence, "error", err)
				continue
			}
			return nil, h.failed(b.Sequence, fmt.Errorf("%s: %w", how, err))
		}
		return nil, h.failed(b.Sequence, err)
	}
}

// waitExit reports whether the process exits within grace.
func (p *process) waitExit(ctx context.Context, grace time.Duration) bool {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(grace)
	for !p.client.Exited() {
		select {
		case <-t.C:
		case <-deadline:
			return false
		case <-ctx.Done():
			return p.client.Exited()
		}
	}
	return true
}

// check validates a response.
func (h *host) check(seq uint64, resp *pluginpb.Response) (*pluginpb.Response, error) {
	if msg := resp.GetError(); msg != "" {
		return nil, h.failed(seq, fmt.Errorf("plugin error: %s", msg))
	}
	if n := len(resp.GetData()) + len(resp.GetBatch()); n > h.opts.MaxResultSize {
		return nil, h.failed(seq, fmt.Errorf("result of %d bytes is larger than the limit of %d", n, h.opts.MaxResultSize))
	}
	return resp, nil
}

// grpcPlugin is the host side of go-plugin's plugin: it hands out a gRPC
// client of the Plugin service.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

func (grpcPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("gadget's go-plugin host only serves as a client")
}

func (grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginpb.NewPluginClient(c), nil
}
