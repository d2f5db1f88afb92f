package wasm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// The exports of the raw ABI.
const (
	exportManifest = "gadget_manifest"
	exportAlloc    = "gadget_alloc"
	exportCall     = "gadget_call"
)

// stderrTail is how much of a guest's stderr is kept for error messages.
const stderrTail = 2048

// module is one opened plugin: a compiled module and its instance pool.
type module struct {
	host     *Host
	path     string
	label    string // `"name" (path)` for errors
	cm       wazero.CompiledModule
	rt       wazero.Runtime // the runtime of cm
	manifest abi.Manifest

	mu     sync.Mutex
	idle   []*instance
	closed bool
}

// instance is one instantiated module, used by one call at a time.
type instance struct {
	mod        api.Module
	fnManifest api.Function
	alloc      api.Function
	fnCall     api.Function // gadget_call
	stderr     *tail
}

func (m *module) instantiate(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, m.host.opts.CallTimeout)
	defer cancel()
	stderr := &tail{max: stderrTail}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithStderr(stderr)
	if m.host.opts.GrantClock {
		cfg = cfg.WithSysWalltime().WithSysNanotime()
	}
	mod, err := m.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, memoryAllocator), m.cm, cfg)
	if err != nil {
		return nil, describe(ctx, err, stderr)
	}
	m.host.opts.Logger.Debug("wasm plugin instantiated", "plugin", m.path)
	return &instance{
		mod:        mod,
		fnManifest: mod.ExportedFunction(exportManifest),
		alloc:      mod.ExportedFunction(exportAlloc),
		fnCall:     mod.ExportedFunction(exportCall),
		stderr:     stderr,
	}, nil
}

func (in *instance) close() { _ = in.mod.Close(context.Background()) }

// manifest calls gadget_manifest.
func (in *instance) manifest(ctx context.Context, opts Options) (abi.Manifest, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	defer cancel()
	res, err := in.fnManifest.Call(ctx)
	if err != nil {
		return abi.Manifest{}, describe(ctx, err, in.stderr)
	}
	b, err := in.read(res[0], opts.MaxResultBytes)
	if err != nil {
		return abi.Manifest{}, err
	}
	if len(b) == 0 {
		return abi.Manifest{}, errors.New("the module registered no plugin: gadget_manifest returned nothing; " +
			"a Go plugin calls wasm.Formatter or wasm.Enricher from an init function (a reactor never runs main)")
	}
	var man abi.Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		return abi.Manifest{}, fmt.Errorf("garbage manifest: %w", err)
	}
	return man, nil
}

// read copies the buffer ptr<<32|len out of the guest's memory.
func (in *instance) read(packed uint64, limit int) ([]byte, error) {
	b, _, err := in.view(packed, limit)
	return bytes.Clone(b), err
}

// view returns the buffer ptr<<32|len in the guest's memory, valid until
// the next call into the instance; ok is false for an empty buffer.
func (in *instance) view(packed uint64, limit int) (b []byte, ok bool, err error) {
	ptr, size := uint32(packed>>32), uint32(packed)
	if int64(size) > int64(limit) {
		return nil, false, fmt.Errorf("oversized result: %d bytes, the limit is %d", size, limit)
	}
	b, ok = in.mod.Memory().Read(ptr, size)
	if !ok {
		return nil, false, fmt.Errorf("garbage result: %d bytes at %#x are outside the module's memory", size, ptr)
	}
	return b, size > 0, nil
}

// acquire returns an idle instance or starts a new one.
func (m *module) acquire(ctx context.Context) (*instance, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("plugin closed")
	}
	if n := len(m.idle); n > 0 {
		in := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return in, nil
	}
	m.mu.Unlock()
	return m.instantiate(ctx)
}

// release returns a healthy instance to the pool, or closes it when the
// pool is full or the plugin closed.
func (m *module) release(in *instance) {
	m.mu.Lock()
	if !m.closed && len(m.idle) < m.host.opts.MaxIdle {
		m.idle = append(m.idle, in)
		in = nil
	}
	m.mu.Unlock()
	if in != nil {
		in.close()
	}
}

func (m *module) close() error {
	m.mu.Lock()
	idle := m.idle
	m.idle, m.closed = nil, true
	m.mu.Unlock()
	for _, in := range idle {
		in.close()
	}
	return nil
}

// invoke runs one call of the plugin. Any failure wraps
// plugin.ErrPluginFailed and names the plugin and the batch; an instance
// that trapped, timed out or answered garbage is discarded.
func (m *module) invoke(ctx context.Context, b plugin.Batch, params map[string]string) (abi.Response, error) {
	fail := func(err error) error {
		return fmt.Errorf("wasm plugin %s: batch %d: %w: %w", m.label, b.Sequence, plugin.ErrPluginFailed, err)
	}
	req, err := encodeRequest(abi.Request{
		ContractVersion: abi.ContractVersion,
		Kind:            m.manifest.Kind,
		Gadget:          b.Gadget,
		Sequence:        b.Sequence,
		Final:           b.Final,
		Parameters:      params,
		RawData:         m.manifest.Kind == abi.KindFormatter,
	}, b.Events)
	if err != nil {
		return abi.Response{}, fail(fmt.Errorf("encode the request: %w", err))
	}
	in, err := m.acquire(ctx)
	if err != nil {
		return abi.Response{}, fail(err)
	}
	resp, err := in.invoke(ctx, req, m.host.opts)
	if err != nil {
		// The error keeps one line; a panic's whole stack is for debugging.
		if text := in.stderr.text(); text != "" {
			m.host.opts.Logger.Debug("wasm plugin call failed; its stderr follows", "plugin", m.path, "batch", b.Sequence, "stderr", text)
		}
		in.close()
		return abi.Response{}, fail(err)
	}
	m.release(in)
	if resp.Error != "" {
		return abi.Response{}, fail(errors.New(resp.Error))
	}
	return resp, nil
}

// request is an encoded request in pieces, written one after the other
// into the guest's memory: the batch, by far the largest part, is never
// copied on the host.
type request [3][]byte

func (r request) len() int { return len(r[0]) + len(r[1]) + len(r[2]) }

// batchKey closes the other fields of a request and opens its batch.
var batchKey = []byte(`,"batch":`)

// encodeRequest encodes req with batch as its Batch, the last field. The
// batch is the framework's own encoding of its events and goes as it is;
// a guest checks it as it decodes it.
func encodeRequest(req abi.Request, batch []byte) (request, error) {
	req.Batch = nil
	head, err := json.Marshal(req)
	if err != nil {
		return request{}, err
	}
	// head ends with `"batch":null}` (Batch has no omitempty): cut it
	// there and put the batch last.
	head = bytes.TrimSuffix(head, []byte("}"))
	if i := bytes.LastIndex(head, []byte(`"batch":null`)); i > 0 {
		head = append(head[:i-1], head[i+len(`"batch":null`):]...)
	}
	head = append(head, batchKey...)
	if len(bytes.TrimSpace(batch)) == 0 {
		batch = []byte("null")
	}
	return request{head, batch, []byte("}")}, nil
}

// invoke writes req into the instance, calls gadget_call and decodes the
// response. Any error leaves the instance unusable.
func (in *instance) invoke(ctx context.Context, req request, opts Options) (abi.Response, error) {
	packed, err := in.call(ctx, req, opts)
	if err != nil {
		return abi.Response{}, err
	}
	return in.decode(packed, opts)
}

// call writes req into the instance and calls gadget_call, which returns
// its response as ptr<<32|len.
func (in *instance) call(ctx context.Context, req request, opts Options) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	defer cancel()
	in.stderr.reset()
	size := req.len()
	res, err := in.alloc.Call(ctx, uint64(size))
	if err != nil {
		return 0, describe(ctx, err, in.stderr)
	}
	ptr := uint32(res[0])
	if ptr == 0 {
		return 0, fmt.Errorf("gadget_alloc(%d) returned 0: out of memory", size)
	}
	at := ptr
	for _, part := range req {
		if !in.mod.Memory().Write(at, part) {
			return 0, fmt.Errorf("gadget_alloc(%d) returned %#x, outside the module's memory", size, ptr)
		}
		at += uint32(len(part))
	}
	res, err = in.fnCall.Call(ctx, uint64(ptr), uint64(size))
	if err != nil {
		return 0, describe(ctx, err, in.stderr)
	}
	return res[0], nil
}

// decode copies the response ptr<<32|len out of the guest's memory: a raw
// one (abi.RawDataMark, then a formatter's output) as it is, copied once,
// anything else decoded as JSON.
func (in *instance) decode(packed uint64, opts Options) (abi.Response, error) {
	out, ok, err := in.view(packed, opts.MaxResultBytes)
	if err != nil {
		return abi.Response{}, err
	}
	if !ok {
		return abi.Response{}, errors.New("garbage result: an empty response")
	}
	if out[0] == abi.RawDataMark {
		return abi.Response{Data: bytes.Clone(out[1:])}, nil
	}
	return decodeResponse(out)
}

// dataPrefix starts a formatter's response as the SDKs write it.
const dataPrefix = `{"data":"`

// decodeResponse decodes a guest's response. A formatter's output, by far
// the largest part, is decoded straight from base64 when the response
// starts with it, as the SDKs write it, rather than through encoding/json,
// which would scan it once more (the same decoding: JSON has no escapes
// in base64 text); any other member goes through encoding/json.
func decodeResponse(out []byte) (abi.Response, error) {
	var resp abi.Response
	if rest, ok := bytes.CutPrefix(out, []byte(dataPrefix)); ok {
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			data := make([]byte, base64.StdEncoding.DecodedLen(end))
			n, err := base64.StdEncoding.Decode(data, rest[:end])
			if err != nil {
				return abi.Response{}, fmt.Errorf("garbage result: data is not base64: %w", err)
			}
			tail := bytes.TrimLeft(rest[end+1:], " \t\r\n")
			switch {
			case len(tail) > 0 && tail[0] == '}':
				if len(bytes.TrimSpace(tail[1:])) != 0 {
					return abi.Response{}, errors.New("garbage result: data after the JSON response")
				}
			case len(tail) > 0 && tail[0] == ',':
				// The other members, as an object of their own.
				if more := bytes.TrimLeft(tail[1:], " \t\r\n"); len(more) == 0 || more[0] != '"' {
					return abi.Response{}, errors.New("garbage result: not a JSON response: expected a member after ,")
				}
				tail = append([]byte("{"), tail[1:]...)
				if err := json.Unmarshal(tail, &resp); err != nil {
					return abi.Response{}, fmt.Errorf("garbage result: not a JSON response: %w", err)
				}
				if resp.Data != nil {
					return abi.Response{}, errors.New("garbage result: data twice in the response")
				}
			default:
				return abi.Response{}, errors.New("garbage result: not a JSON response: expected , or } after data")
			}
			resp.Data = data[:n]
			return resp, nil
		}
	}
	if batch, ok := sdkBatch(out); ok {
		return abi.Response{Batch: bytes.Clone(batch)}, nil
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return abi.Response{}, fmt.Errorf("garbage result: not a JSON response: %w", err)
	}
	return resp, nil
}

// batchPrefix starts an enricher's response as the SDKs write it.
const batchPrefix = `{"batch":`

// sdkBatch returns the batch of an enricher's response written as the
// SDKs write it, {"batch":[...]} and nothing else, without scanning the
// batch: encoding/json would scan it twice (to validate the response, then
// to find the batch's end), and the caller decodes it anyway, which finds
// what is wrong in it (plugin.Enricher). A response with another member
// after the batch (e.g. an error, a string) ends otherwise and goes
// through encoding/json.
func sdkBatch(out []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(out, []byte(batchPrefix))
	if !ok {
		return nil, false
	}
	rest = bytes.TrimRight(rest, " \t\r\n")
	if len(rest) == 0 || rest[len(rest)-1] != '}' {
		return nil, false
	}
	batch := bytes.TrimSpace(rest[:len(rest)-1])
	if len(batch) < 2 || batch[0] != '[' || batch[len(batch)-1] != ']' {
		return nil, false
	}
	return batch, true
}

// describe turns an error of a guest call into one line: a timeout, an
// exit or a trap, with the last line the guest wrote to stderr.
func describe(ctx context.Context, err error, stderr *tail) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			deadline, _ := ctx.Deadline()
			err = fmt.Errorf("timed out (deadline %s): %w", deadline.Format("15:04:05.000"), context.DeadlineExceeded)
		case sys.ExitCodeContextCanceled:
			err = fmt.Errorf("cancelled: %w", context.Cause(ctx))
		default:
			err = fmt.Errorf("exited with code %d", exit.ExitCode())
		}
	} else {
		err = fmt.Errorf("trapped: %s", trapLine(err.Error()))
	}
	if last := stderr.lastLine(); last != "" {
		err = fmt.Errorf("%w; stderr: %s", err, last)
	}
	return err
}

// trapLine is the first line of a wazero trap's message with the guest
// functions of its stack trace, innermost first (at most four; a Go
// guest's runtime functions left out), e.g. "wasm error: unreachable in
// explode, gadget_call".
func trapLine(msg string) string {
	first, rest, _ := strings.Cut(msg, "\n")
	_, trace, ok := strings.Cut(rest, "wasm stack trace:")
	if !ok {
		return first
	}
	var fns, user []string
	for line := range strings.SplitSeq(trace, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "0x") {
			continue // empty, or a source offset under the function
		}
		// ".name(params) results": the module has no name.
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "."), "(")
		if name == "" || strings.HasPrefix(name, "gadget_meter") {
			continue
		}
		fns = append(fns, name)
		if !strings.HasPrefix(name, "runtime.") {
			user = append(user, name)
		}
	}
	if len(user) > 0 {
		fns = user
	}
	if len(fns) == 0 {
		return first
	}
	if len(fns) > 4 {
		fns = append(fns[:4], "…")
	}
	return first + " in " + strings.Join(fns, ", ")
}

// tail keeps the start and the end of what a guest writes to stderr: a
// Go panic's message comes first, before a long traceback.
type tail struct {
	max  int
	mu   sync.Mutex
	head []byte
	end  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - len(t.head); room > 0 {
		t.head = append(t.head, p[:min(room, len(p))]...)
	}
	t.end = append(t.end, p...)
	if over := len(t.end) - t.max; over > 0 {
		t.end = append(t.end[:0], t.end[over:]...)
	}
	return len(p), nil
}

func (t *tail) reset() {
	t.mu.Lock()
	t.head, t.end = t.head[:0], t.end[:0]
	t.mu.Unlock()
}

// text returns what was kept: the start and, if more was written, the
// end.
func (t *tail) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if string(t.head) == string(t.end) || len(t.end) < t.max {
		return string(t.end)
	}
	return string(t.head) + "\n…\n" + string(t.end)
}

// lastLine returns the most telling line of what was written: the first
// line of a Go panic or fatal error if there is one, else the last
// non-empty line.
func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range strings.Split(string(t.head), "\n") {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return strings.TrimSpace(l)
		}
	}
	lines := strings.Split(strings.TrimSpace(string(t.end)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// formatter is a module as a plugin.Formatter.
type formatter struct{ m *module }

func (f formatter) Manifest() abi.Manifest { return f.m.manifest }
func (f formatter) Close() error           { return f.m.close() }

// Format renders b in a pooled instance.
func (f formatter) Format(ctx context.Context, b plugin.Batch, params map[string]string) (plugin.Formatted, error) {
	resp, err := f.m.invoke(ctx, b, params)
	if err != nil {
		return plugin.Formatted{}, err
	}
	mt := resp.MediaType
	if mt == "" {
		mt = f.m.manifest.MediaType
	}
	return plugin.Formatted{Data: resp.Data, MediaType: mt}, nil
}

// enricher is a module as a plugin.Enricher.
type enricher struct{ m *module }

func (e enricher) Manifest() abi.Manifest { return e.m.manifest }
func (e enricher) Close() error           { return e.m.close() }

// Enrich enriches b in a pooled instance; the result must be a JSON array.
// The response it came in was valid JSON (invoke decoded it), so the
// batch is: only its kind is checked here, and its events are the
// caller's to decode (plugin.Enricher).
func (e enricher) Enrich(ctx context.Context, b plugin.Batch, params map[string]string) ([]byte, error) {
	resp, err := e.m.invoke(ctx, b, params)
	if err != nil {
		return nil, err
	}
	out := bytes.TrimSpace(resp.Batch)
	if len(out) == 0 || out[0] != '[' {
		return nil, fmt.Errorf("wasm plugin %s: batch %d: %w: garbage result: the enriched batch is not a JSON array",
			e.m.label, b.Sequence, plugin.ErrPluginFailed)
	}
	return []byte(resp.Batch), nil
}
