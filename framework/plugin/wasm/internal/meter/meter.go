// Package meter instruments a WebAssembly module so that a host can stop
// it cheaply. Every function call spends one unit of fuel from a global the
// module keeps, and so does every LoopsPerFuel-th iteration of the loops
// of one call (counted in a new local, in registers); when the fuel runs
// out the module calls the imported function ImportModule.ImportName,
// which returns new fuel or aborts the call (e.g. because its deadline
// passed).
//
// Between two refuels a module runs at most fuel × LoopsPerFuel loop
// iterations: each unit pays for one call and the iterations of that call
// until its next charge. Every non-terminating execution runs loop headers
// forever (wasm jumps backwards only to loops; unbounded recursion
// exhausts the stack), so the host regains control; the regular call into
// the host also lets Go preempt the goroutine, which it cannot do inside
// compiled WASM. A loop (without parameters) is wrapped in three blocks so
// that its check leaves the loop to spend fuel and enters it again (see
// appendLoopHead): the loop's own path gets a count and a branch out,
// never code that comes back into it, which wazero's compiler handles far
// better than an if in the loop. wazero's WithCloseOnContextDone leaves
// the compiled code for Go on every iteration instead.
//
// Instrument understands the core WebAssembly 2.0 instruction set (with
// sign extension, saturating conversions, bulk memory, reference types,
// SIMD and threads); a module using anything else (tail calls, exception
// handling, GC types) yields ErrUnsupported, and the caller must stop it
// by other means.
package meter

import (
	"errors"
	"fmt"
)

// The function an instrumented module imports: () -> i32, the new fuel.
const (
	ImportModule = "gadget_meter"
	ImportName   = "refuel"
)

// Version identifies what Instrument writes: raise it with any change to
// its output, so that modules instrumented by an older meter and kept on
// disk (the host's cache) are instrumented again.
const Version = 1

// LoopsPerFuel is the number of loop iterations of one function call that
// spend one unit of fuel; every call spends one too.
const LoopsPerFuel = 64

// maxLocals bounds the locals of a function, as wazero does.
const maxLocals = 1 << 27

// ErrUnsupported is returned for modules Instrument cannot rewrite.
var ErrUnsupported = errors.New("module not supported by the fuel meter")

// Section ids.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secGlobal   = 6
	secExport   = 7
	secStart    = 8
	secElement  = 9
	secCode     = 10
	secDataCnt  = 12
	secFunction = 3
)

// Instrument returns code with the fuel meter added, each instance
// starting with fuel units. The "name" section is kept, its function
// indices moved as the meter moves the functions (so that a trap's stack
// trace names the guest's functions); the other custom sections (debug
// information and the like) are dropped, as their code offsets would be
// wrong.
func Instrument(code []byte, fuel int32) (out []byte, err error) {
	if fuel <= 0 {
		return nil, errors.New("fuel must be positive")
	}
	if len(code) < 8 || string(code[:4]) != "\x00asm" || string(code[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("%w: not a WebAssembly 1.0 binary", ErrUnsupported)
	}
	type section struct {
		id   byte
		body []byte
	}
	var secs []section
	var names []byte // the name section's subsections, if any
	r := &reader{b: code, i: 8}
	for !r.done() {
		id := r.byte()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("%w: truncated section: %w", ErrUnsupported, r.err)
		}
		if id != secCustom {
			secs = append(secs, section{id, body})
			continue
		}
		cr := &reader{b: body}
		if string(cr.name()) == "name" && cr.err == nil {
			names = body[cr.i:]
		}
	}

	// First pass: count types, imported functions and globals.
	m := &module{}
	for _, s := range secs {
		r := &reader{b: s.body}
		switch s.id {
		case secType:
			m.types = r.u32()
			for range m.types {
				if r.byte() != 0x60 {
					return nil, fmt.Errorf("%w: a type is no function type", ErrUnsupported)
				}
				params := r.u32()
				r.bytes(int(params))
				m.params = append(m.params, params)
				r.vec(func() { r.byte() })
			}
		case secFunction:
			r.vec(func() { m.funcTypes = append(m.funcTypes, r.u32()) })
		case secImport:
			r.vec(func() {
				r.name()
				r.name()
				switch kind := r.byte(); kind {
				case 0:
					r.u32()
					m.importedFuncs++
				case 1:
					r.byte()
					r.limits()
				case 2:
					r.limits()
				case 3:
					r.byte()
					r.byte()
					m.importedGlobals++
				default:
					r.fail(fmt.Errorf("import kind %d", kind))
				}
			})
		case secGlobal:
			m.globals = r.u32()
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %w", ErrUnsupported, s.id, r.err)
		}
	}
	m.fuelGlobal = m.importedGlobals + m.globals
	m.refuelFunc = m.importedFuncs

	// Second pass: rewrite.
	w := append([]byte(nil), code[:8]...)
	emit := func(id byte, body []byte) {
		w = append(w, id)
		w = appendU32(w, uint32(len(body)))
		w = append(w, body...)
	}
	hasType, hasImport, hasGlobal := false, false, false
	for _, s := range secs {
		// Sections we must add go before the first section that follows
		// them in the binary order.
		if !hasType && order(s.id) > order(secType) {
			emit(secType, m.typeSection(nil))
			hasType = true
		}
		if !hasImport && order(s.id) > order(secImport) {
			emit(secImport, m.importSection(nil))
			hasImport = true
		}
		if !hasGlobal && order(s.id) > order(secGlobal) {
			emit(secGlobal, m.globalSection(nil, fuel))
			hasGlobal = true
		}
		var body []byte
		var err error
		switch s.id {
		case secType:
			body, hasType = m.typeSection(s.body), true
		case secImport:
			body, hasImport = m.importSection(s.body), true
		case secGlobal:
			body, err = m.rewriteGlobals(s.body, fuel)
			hasGlobal = true
		case secExport:
			body, err = m.rewriteExports(s.body)
		case secStart:
			r := &reader{b: s.body}
			body = appendU32(nil, m.fn(r.u32()))
			err = r.err
		case secElement:
			body, err = m.rewriteElements(s.body)
		case secCode:
			body, err = m.rewriteCode(s.body)
		default:
			body = s.body
		}
		if err != nil {
			return nil, fmt.Errorf("%w: section %d: %w", ErrUnsupported, s.id, err)
		}
		emit(s.id, body)
	}
	if !hasType {
		emit(secType, m.typeSection(nil))
	}
	if !hasImport {
		emit(secImport, m.importSection(nil))
	}
	if !hasGlobal {
		emit(secGlobal, m.globalSection(nil, fuel))
	}
	if names != nil {
		// Names help, but a module runs without them: one that cannot be
		// rewritten is left out rather than refused.
		if body, err := m.rewriteNames(names); err == nil {
			emit(secCustom, append(appendName(nil, "name"), body...))
		}
	}
	return w, nil
}

// refuelName names the meter's import in the rewritten name section.
const refuelName = "gadget_meter.refuel"

// rewriteNames rewrites the subsections of a name section: the module's
// name as it is, the functions' and their locals' names at the functions'
// new indices (the refuel import named too), the others dropped (label
// names would be wrong, as the meter adds blocks).
func (m *module) rewriteNames(body []byte) ([]byte, error) {
	r := &reader{b: body}
	var out []byte
	sub := func(id byte, content []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(content)))
		out = append(out, content...)
	}
	for !r.done() {
		id := r.byte()
		content := r.bytes(int(r.u32()))
		if r.err != nil {
			break
		}
		cr := &reader{b: content}
		switch id {
		case 0: // the module's name
			sub(id, content)
		case 1: // function names: a name map, by increasing index
			n := cr.u32()
			var entries []byte
			named := false
			count := uint32(0)
			for range n {
				idx := cr.u32()
				name := cr.name()
				if cr.err != nil {
					break
				}
				if !named && idx >= m.refuelFunc {
					entries = appendName(appendU32(entries, m.refuelFunc), refuelName)
					named = true
					count++
				}
				entries = appendName(appendU32(entries, m.fn(idx)), name)
				count++
			}
			if !named {
				entries = appendName(appendU32(entries, m.refuelFunc), refuelName)
				count++
			}
			sub(id, append(appendU32(nil, count), entries...))
		case 2: // local names: function index, then a name map of its locals
			n := cr.u32()
			out2 := appendU32(nil, n)
			for range n {
				idx := cr.u32()
				start := cr.i
				cr.vec(func() { cr.u32(); cr.name() })
				if cr.err != nil {
					break
				}
				out2 = append(appendU32(out2, m.fn(idx)), content[start:cr.i]...)
			}
			sub(id, out2)
		}
		if cr.err != nil {
			return nil, fmt.Errorf("name subsection %d: %w", id, cr.err)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("name section: %w", r.err)
	}
	return out, nil
}

// order is the position of a section id in the binary order.
func order(id byte) int {
	switch id {
	case secDataCnt:
		return 95 // after element (9), before code (10)
	default:
		return int(id) * 10
	}
}

// module is what the rewrite needs to know of a module.
type module struct {
	types, importedFuncs, importedGlobals, globals uint32
	fuelGlobal, refuelFunc                         uint32
	counter                                        uint32   // the counter local of the function being rewritten
	params                                         []uint32 // parameter count by type
	funcTypes                                      []uint32 // type by defined function
}

// fn maps a function index of the original module to the instrumented
// one: the refuel import comes after the original imports.
func (m *module) fn(i uint32) uint32 {
	if i < m.importedFuncs {
		return i
	}
	return i + 1
}

// typeSection appends the refuel type, () -> i32, to the types of body.
func (m *module) typeSection(body []byte) []byte {
	out := appendU32(nil, m.types+1)
	if len(body) > 0 {
		out = append(out, body[lenU32(body):]...)
	}
	return append(out, 0x60, 0x00, 0x01, 0x7f)
}

// importSection appends the refuel import to the imports of body.
func (m *module) importSection(body []byte) []byte {
	var n uint32
	rest := body
	if len(body) > 0 {
		r := &reader{b: body}
		n = r.u32()
		rest = body[r.i:]
	}
	out := appendU32(nil, n+1)
	out = append(out, rest...)
	out = appendName(out, ImportModule)
	out = appendName(out, ImportName)
	out = append(out, 0x00)
	return appendU32(out, m.types) // the type typeSection appended
}

// globalSection returns a global section holding the original globals
// (rest, already rewritten, count n) and the fuel global.
func (m *module) globalSection(rest []byte, fuel int32) []byte {
	out := appendU32(nil, m.globals+1)
	out = append(out, rest...)
	out = append(out, 0x7f, 0x01, 0x41)
	out = appendS32(out, fuel)
	return append(out, 0x0b)
}

func (m *module) rewriteGlobals(body []byte, fuel int32) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	var rest []byte
	for range n {
		rest = append(rest, r.byte(), r.byte()) // valtype, mut
		var err error
		if rest, err = m.rewriteExpr(r, rest, false); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return m.globalSection(rest, fuel), nil
}

func (m *module) rewriteExports(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	for range n {
		out = appendName(out, r.name())
		kind := r.byte()
		idx := r.u32()
		if kind == 0 {
			idx = m.fn(idx)
		}
		out = appendU32(append(out, kind), idx)
	}
	return out, r.err
}

func (m *module) rewriteElements(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	var err error
	for range n {
		flags := r.u32()
		out = appendU32(out, flags)
		if flags > 7 {
			return nil, fmt.Errorf("element segment flags %d", flags)
		}
		if flags == 2 || flags == 6 {
			out = appendU32(out, r.u32()) // table
		}
		if flags&1 == 0 { // active: offset expression
			if out, err = m.rewriteExpr(r, out, false); err != nil {
				return nil, err
			}
		}
		if flags&3 != 0 {
			out = append(out, r.byte()) // elemkind or reftype
		}
		cnt := r.u32()
		out = appendU32(out, cnt)
		for range cnt {
			if flags&4 == 0 {
				out = appendU32(out, m.fn(r.u32()))
			} else if out, err = m.rewriteExpr(r, out, false); err != nil {
				return nil, err
			}
		}
	}
	return out, r.err
}

func (m *module) rewriteCode(body []byte) ([]byte, error) {
	r := &reader{b: body}
	n := r.u32()
	out := appendU32(nil, n)
	var fnBody []byte
	if int(n) != len(m.funcTypes) {
		return nil, errors.New("the code and function sections disagree")
	}
	for i := range n {
		size := r.u32()
		fr := &reader{b: r.bytes(int(size))}
		if r.err != nil {
			return nil, r.err
		}
		if m.funcTypes[i] >= uint32(len(m.params)) {
			return nil, errors.New("a function of an unknown type")
		}
		// The counter is a new local after the others.
		counter := uint64(m.params[m.funcTypes[i]])
		fnBody = fnBody[:0]
		groups := fr.u32()
		fnBody = appendU32(fnBody, groups+1)
		for range groups {
			cnt := fr.u32()
			counter += uint64(cnt)
			fnBody = appendU32(fnBody, cnt)
			fnBody = append(fnBody, fr.byte())
		}
		if counter > maxLocals {
			return nil, errors.New("too many locals")
		}
		fnBody = append(fnBody, 0x01, 0x7f)
		m.counter = uint32(counter)
		fnBody = m.appendCharge(fnBody)
		var err error
		if fnBody, err = m.rewriteExpr(fr, fnBody, true); err != nil {
			return nil, err
		}
		if !fr.done() {
			return nil, errors.New("bytes after a function body")
		}
		out = appendU32(out, uint32(len(fnBody)))
		out = append(out, fnBody...)
	}
	return out, r.err
}

// rewriteExpr copies the instructions of one expression, up to and with
// its final end, from r to out: function indices remapped and, when
// meter is set, the fuel check added after every loop header.
func (m *module) rewriteExpr(r *reader, out []byte, meter bool) ([]byte, error) {
	// frames are the open blocks, loops and ifs: true for a loop the
	// meter wrapped in three more (see appendLoopHead).
	var frames []bool
	for {
		if r.err != nil {
			return nil, r.err
		}
		if r.done() {
			return nil, errors.New("expression without end")
		}
		start := r.i
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
			simple := r.blockType()
			switch {
			case op == 0x03 && meter && simple:
				out = m.appendLoopHead(out, r.b[start+1:r.i])
				frames = append(frames, true)
			case op == 0x03 && meter:
				out = m.appendLoopCheck(append(out, r.b[start:r.i]...))
				frames = append(frames, false)
			default:
				out = append(out, r.b[start:r.i]...)
				frames = append(frames, false)
			}
			continue
		case op == 0x0b: // end
			out = append(out, op)
			if len(frames) == 0 {
				return out, nil
			}
			if frames[len(frames)-1] {
				out = m.appendLoopTail(out)
			}
			frames = frames[:len(frames)-1]
			continue
		case op == 0x0c || op == 0x0d: // br, br_if
			out = appendU32(append(out, op), relabel(frames, r.u32()))
			continue
		case op == 0x0e: // br_table
			n := r.u32()
			out = appendU32(append(out, op), n)
			for i := uint32(0); i < n && r.err == nil; i++ {
				out = appendU32(out, relabel(frames, r.u32()))
			}
			out = appendU32(out, relabel(frames, r.u32()))
			continue
		case op == 0x10 || op == 0xd2: // call, ref.func
			out = appendU32(append(out, op), m.fn(r.u32()))
			continue
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0f || op == 0x1a || op == 0x1b || op == 0xd1:
		case (op >= 0x20 && op <= 0x26) || op == 0x3f || op == 0x40:
			r.u32()
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			r.vec(func() { r.byte() })
		case op >= 0x28 && op <= 0x3e:
			r.memarg()
		case op == 0x41 || op == 0x42:
			r.sleb()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op >= 0x45 && op <= 0xc4:
		case op == 0xd0: // ref.null
			r.byte()
		case op == 0xfc:
			switch sub := r.u32(); {
			case sub <= 7:
			case sub == 8 || sub == 10 || sub == 12 || sub == 14:
				r.u32()
				r.u32()
			case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
				r.u32()
			default:
				return nil, fmt.Errorf("instruction 0xfc %d", sub)
			}
		case op == 0xfd:
			switch sub := r.u32(); {
			case sub <= 11 || sub == 92 || sub == 93:
				r.memarg()
			case sub == 12 || sub == 13:
				r.bytes(16)
			case sub >= 21 && sub <= 34:
				r.byte()
			case sub >= 84 && sub <= 91:
				r.memarg()
				r.byte()
			case sub <= 0x113:
			default:
				return nil, fmt.Errorf("instruction 0xfd %d", sub)
			}
		case op == 0xfe:
			switch sub := r.u32(); {
			case sub == 3:
				r.byte()
			case sub <= 2 || (sub >= 0x10 && sub <= 0x4e):
				r.memarg()
			default:
				return nil, fmt.Errorf("instruction 0xfe %d", sub)
			}
		default:
			return nil, fmt.Errorf("instruction %#x", op)
		}
		out = append(out, r.b[start:r.i]...)
	}
}

// appendCharge appends the spending of one unit of fuel, with a call of
// refuel when it runs out:
//
//	global.get fuel; i32.eqz; if; call refuel; global.set fuel; end
//	global.get fuel; i32.const 1; i32.sub; global.set fuel
func (m *module) appendCharge(out []byte) []byte {
	out = appendU32(append(out, 0x23), m.fuelGlobal)
	out = append(out, 0x45, 0x04, 0x40, 0x10)
	out = appendU32(out, m.refuelFunc)
	out = appendU32(append(out, 0x24), m.fuelGlobal)
	out = append(out, 0x0b)
	out = appendU32(append(out, 0x23), m.fuelGlobal)
	out = append(out, 0x41, 0x01, 0x6b, 0x24)
	return appendU32(out, m.fuelGlobal)
}

// relabel maps the label l of a branch inside frames to the instrumented
// code: the branch crosses the three labels the meter added around every
// wrapped loop between it and its target (not those of the target itself,
// which are outside it).
func relabel(frames []bool, l uint32) uint32 {
	target := len(frames) - 1 - int(min(l, uint32(len(frames))))
	for _, wrapped := range frames[target+1:] {
		if wrapped {
			l += 3
		}
	}
	return l
}

// appendLoopHead appends a loop of block type bt (no parameters) wrapped
// so that its check leaves the loop to spend fuel and comes back:
//
//	block bt            ;; after
//	  loop bt           ;; again
//	    block           ;; charge
//	      loop bt       ;; the loop
//	        local.get n; i32.const 1; i32.add; local.tee n
//	        i32.const LoopsPerFuel-1; i32.and; i32.eqz; br_if 1
//	        ... the loop's body
//
// and appendLoopTail closes it after the loop's end. The check's branch
// leaves the loop rather than coming back into it, which wazero's
// compiler handles far better: an if in the loop, whose body returns into
// it, cost a C guest about twice as much time.
func (m *module) appendLoopHead(out, bt []byte) []byte {
	out = append(append(out, 0x02), bt...)
	out = append(append(out, 0x03), bt...)
	out = append(out, 0x02, 0x40)
	out = append(append(out, 0x03), bt...)
	out = appendU32(append(out, 0x20), m.counter)
	out = append(out, 0x41, 0x01, 0x6a, 0x22)
	out = appendU32(out, m.counter)
	out = appendS32(append(out, 0x41), LoopsPerFuel-1)
	return append(out, 0x71, 0x45, 0x0d, 0x01)
}

// appendLoopTail closes a loop of appendLoopHead after the loop's own end:
// its results go to the block after it; the check's exit spends fuel and
// enters the loop again.
//
//	      (end of the loop)
//	      br 2          ;; to after, with the loop's results
//	    end
//	    charge; br 0    ;; again
//	  end
//	end
//
// Entering the loop again counts as an iteration: a loop that runs on
// spends fuel every LoopsPerFuel-1 iterations after its first
// LoopsPerFuel.
func (m *module) appendLoopTail(out []byte) []byte {
	out = append(out, 0x0c, 0x02, 0x0b)
	out = m.appendCharge(out)
	return append(out, 0x0c, 0x00, 0x0b, 0x0b)
}

// appendLoopCheck appends the check of a loop header (for loops with
// parameters, which appendLoopHead cannot wrap): count the iteration
// in the function's counter local, and spend fuel every LoopsPerFuel
// iterations.
//
//	local.get n; i32.const 1; i32.add; local.tee n
//	i32.const LoopsPerFuel-1; i32.and; i32.eqz; if; charge; end
func (m *module) appendLoopCheck(out []byte) []byte {
	out = appendU32(append(out, 0x20), m.counter)
	out = append(out, 0x41, 0x01, 0x6a, 0x22)
	out = appendU32(out, m.counter)
	out = appendS32(append(out, 0x41), LoopsPerFuel-1)
	out = append(out, 0x71, 0x45, 0x04, 0x40)
	out = m.appendCharge(out)
	return append(out, 0x0b)
}

// reader reads a module; the first error sticks and zero values follow.
type reader struct {
	b   []byte
	i   int
	err error
}

func (r *reader) done() bool { return r.err != nil || r.i >= len(r.b) }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.i = len(r.b)
}

func (r *reader) byte() byte {
	if r.i >= len(r.b) {
		r.fail(errors.New("unexpected end"))
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b)-r.i {
		r.fail(errors.New("unexpected end"))
		return nil
	}
	b := r.b[r.i : r.i+n]
	r.i += n
	return b
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 too long"))
	return 0
}

// sleb skips a signed LEB128 of up to 64 bits.
func (r *reader) sleb() {
	for range 10 {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail(errors.New("LEB128 too long"))
}

func (r *reader) vec(item func()) {
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		item()
	}
}

func (r *reader) name() []byte { return r.bytes(int(r.u32())) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// memarg skips align (with the multi-memory bit) and offset.
func (r *reader) memarg() {
	if r.u32()&0x40 != 0 {
		r.u32()
	}
	r.u32()
}

// blockType skips 0x40, a value type or a type index (s33).
func (r *reader) blockType() (simple bool) {
	if r.i < len(r.b) {
		switch r.b[r.i] {
		case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
			r.i++
			return true
		}
	}
	r.sleb()
	return false
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName[S string | []byte](b []byte, s S) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

// lenU32 returns the length of the LEB128 at the start of b.
func lenU32(b []byte) int {
	for i, c := range b {
		if c&0x80 == 0 {
			return i + 1
		}
	}
	return len(b)
}
