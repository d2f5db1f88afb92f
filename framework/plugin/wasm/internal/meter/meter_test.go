package meter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// section encodes a section of a module.
func section(id byte, body ...byte) []byte {
	return append(appendU32([]byte{id}, uint32(len(body))), body...)
}

// testModule is a module with two functions of type (i32) -> i32 and one
// of type () -> (): "spin" loops forever, "count" loops n times (calling
// "id" on every iteration, through a table) and returns n; it has a
// global, a start function and an element segment, so that every
// function index the meter shifts is exercised.
func testModule() []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, 2, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 0, 0)...)
	m = append(m, section(3, 4, 1, 0, 0, 1)...)             // spin, count, id, start
	m = append(m, section(4, 1, 0x70, 0, 1)...)             // table of 1 funcref
	m = append(m, section(6, 1, 0x7f, 1, 0x41, 0, 0x0b)...) // global i32 mut = 0
	m = append(m, section(7, 2,
		4, 's', 'p', 'i', 'n', 0, 0,
		5, 'c', 'o', 'u', 'n', 't', 0, 1)...)
	m = append(m, section(8, 3)...)                         // start: func 3
	m = append(m, section(9, 1, 0, 0x41, 0, 0x0b, 1, 2)...) // table[0] = id
	spin := []byte{0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b}
	// count(n): local i; loop: i = id(i+1) via call_indirect; br_if i<n; return i
	count := []byte{1, 1, 0x7f,
		0x03, 0x40,
		0x20, 1, 0x41, 1, 0x6a, 0x41, 0, 0x11, 0, 0, 0x21, 1,
		0x20, 1, 0x20, 0, 0x48, 0x0d, 0,
		0x0b,
		0x20, 1, 0x0b}
	id := []byte{0, 0x20, 0, 0x0b}
	start := []byte{0, 0x41, 7, 0x24, 0, 0x0b} // global = 7
	var code []byte
	code = appendU32(code, 4)
	for _, b := range [][]byte{spin, count, id, start} {
		code = append(appendU32(code, uint32(len(b))), b...)
	}
	return append(m, section(10, code...)...)
}

var errStop = errors.New("stopped by the meter")

// run instantiates the instrumented module with a refuel that gives 100
// units and stops it after stopAfter refuels, and calls fn with args.
func run(t *testing.T, code []byte, fn string, stopAfter int, args ...uint64) (uint64, int, error) {
	t.Helper()
	ctx := context.Background()
	out, err := Instrument(code, 100)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	refuels := 0
	_, err = rt.NewHostModuleBuilder(ImportModule).NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
			refuels++
			if refuels > stopAfter {
				panic(errStop)
			}
			stack[0] = 100
		}), nil, []api.ValueType{api.ValueTypeI32}).
		Export(ImportName).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatalf("instantiate the instrumented module: %v", err)
	}
	res, err := mod.ExportedFunction(fn).Call(ctx, args...)
	if len(res) == 0 {
		return 0, refuels, err
	}
	return res[0], refuels, err
}

func TestInstrumentStopsALoop(t *testing.T) {
	_, refuels, err := run(t, testModule(), "spin", 3)
	if !errors.Is(err, errStop) || refuels != 4 {
		t.Fatalf("spin: %v after %d refuels, want the meter's stop after 4", err, refuels)
	}
}

func TestInstrumentKeepsBehaviour(t *testing.T) {
	// 10,000 iterations, each a call: more than 100 fuel, so refuel runs.
	got, refuels, err := run(t, testModule(), "count", 1<<30, 10_000)
	if err != nil || got != 10_000 {
		t.Fatalf("count(10000) = %d, %v; want 10000", got, err)
	}
	if want := (10_000 + 10_000/LoopsPerFuel) / 100; refuels < want-1 || refuels > want+1 {
		t.Errorf("refuels = %d, want about %d (one unit per call, one per %d iterations)", refuels, want, LoopsPerFuel)
	}
}

func TestInstrumentUnsupported(t *testing.T) {
	m := testModule()
	tail := append([]byte(nil), m...)
	// Replace spin's br by return_call (tail calls): not understood.
	for i := len(tail) - 1; i > 0; i-- {
		if tail[i-1] == 0x03 && tail[i] == 0x40 && tail[i+1] == 0x0c {
			tail[i+1] = 0x12
			break
		}
	}
	for name, code := range map[string][]byte{
		"garbage":    []byte("not wasm"),
		"truncated":  m[:len(m)-3],
		"tail calls": tail,
	} {
		if _, err := Instrument(code, 100); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: Instrument = %v, want ErrUnsupported", name, err)
		}
	}
}

func TestInstrumentMinimalModule(t *testing.T) {
	// No type, import, global or code section: the meter adds its own.
	out, err := Instrument([]byte("\x00asm\x01\x00\x00\x00"), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, out); err != nil {
		t.Fatalf("compile: %v", err)
	}
}

// loopModule is a module whose one function, "plain", loops n times
// without calls and returns n.
func loopModule() []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, 1, 0x60, 1, 0x7f, 1, 0x7f)...)
	m = append(m, section(3, 1, 0)...)
	m = append(m, section(7, 1, 5, 'p', 'l', 'a', 'i', 'n', 0, 0)...)
	// local i; loop: i = i+1; br_if i<n; end; return i
	plain := []byte{1, 1, 0x7f,
		0x03, 0x40,
		0x20, 1, 0x41, 1, 0x6a, 0x22, 1,
		0x20, 0, 0x48, 0x0d, 0,
		0x0b,
		0x20, 1, 0x0b}
	return append(m, section(10, append(appendU32([]byte{1}, uint32(len(plain))), plain...)...)...)
}

// TestInstrumentChargesEveryLoopsPerFuel checks the count of a loop's
// charges: one for the call, one every LoopsPerFuel checks of the loop's
// header, where entering the loop again after a charge is checked too; so
// that with 100 units a refuel the 101st charge refuels.
func TestInstrumentChargesEveryLoopsPerFuel(t *testing.T) {
	want := func(n int) int {
		charges, counter := 1, 0
		for range n {
			if counter++; counter%LoopsPerFuel == 0 {
				charges++
				counter++ // entering the loop again
			}
		}
		return (charges - 1) / 100
	}
	for _, n := range []int{1, LoopsPerFuel - 1, LoopsPerFuel, 100*(LoopsPerFuel-1) - 1, 100*(LoopsPerFuel-1) + 1, 100 * LoopsPerFuel, 1_000_000} {
		got, refuels, err := run(t, loopModule(), "plain", 1<<30, uint64(n))
		if err != nil || got != uint64(n) {
			t.Fatalf("plain(%d) = %d, %v; want %d", n, got, err, n)
		}
		if w := want(n); refuels != w {
			t.Errorf("plain(%d): %d refuels, want %d", n, refuels, w)
		}
	}
}

// branchyModule is a module whose one function, "mix", has nested loops
// (one with a result) and branches out of them: to an enclosing block,
// through a br_table, and to the function itself (a return).
func branchyModule() []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, 1, 0x60, 1, 0x7f, 1, 0x7f)...)
	m = append(m, section(3, 1, 0)...)
	m = append(m, section(7, 1, 3, 'm', 'i', 'x', 0, 0)...)
	mix := []byte{1, 3, 0x7f, // locals i, acc, j
		0x02, 0x40, // block $done
		0x03, 0x40, // loop $outer
		0x20, 1, 0x41, 1, 0x6a, 0x21, 1, // i++
		0x20, 1, 0x20, 0, 0x4b, 0x0d, 1, // br_if $done (i > n)
		0x02, 0x40, // block $skip
		0x20, 1, 0x41, 3, 0x70, // i % 3
		0x0e, 2, 0, 1, 0, // br_table $skip $outer, default $skip
		0x0b,
		0x41, 0, 0x21, 3, // j = 0
		0x03, 0x7f, // loop (result i32)
		0x20, 3, 0x41, 1, 0x6a, 0x22, 3, // j++
		0x20, 2, 0x6a, 0x21, 2, // acc += j
		0x20, 3, 0x20, 1, 0x41, 5, 0x70, 0x49, 0x0d, 0, // br_if (j < i%5)
		0x20, 3, // the loop's result: j
		0x0b,
		0x20, 2, 0x6a, 0x21, 2, // acc += j
		0x20, 2, 0x41, 0xa0, 0x8d, 0x06, 0x4b, // acc > 100000
		0x04, 0x40, 0x20, 2, 0x0c, 3, 0x0b, // if: return acc (br to the function)
		0x0c, 0, // br $outer
		0x0b,                   // end $outer
		0x0b,                   // end $done
		0x20, 2, 0x41, 7, 0x6c, // acc * 7
		0x0b}
	return append(m, section(10, append(appendU32([]byte{1}, uint32(len(mix))), mix...)...)...)
}

// TestInstrumentKeepsBranches checks that the branches of wrapped loops
// still reach their targets: mix gives what it gives uninstrumented.
func TestInstrumentKeepsBranches(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	plain, err := rt.Instantiate(ctx, branchyModule())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{0, 1, 2, 3, 7, 100, 1000, 100_000} {
		want, err := plain.ExportedFunction("mix").Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := run(t, branchyModule(), "mix", 1<<30, n)
		if err != nil || got != want[0] {
			t.Errorf("mix(%d) = %d, %v; uninstrumented %d", n, got, err, want[0])
		}
	}
}

// withNames appends a name section to code: its module name, function
// names and local names as given.
func withNames(code []byte, module string, funcs []string, locals map[uint32][]string) []byte {
	var body []byte
	body = appendName(body, "name")
	mod := appendName(nil, module)
	body = append(appendU32(append(body, 0), uint32(len(mod))), mod...)
	var fn []byte
	fn = appendU32(fn, uint32(len(funcs)))
	for i, f := range funcs {
		fn = appendName(appendU32(fn, uint32(i)), f)
	}
	body = append(appendU32(append(body, 1), uint32(len(fn))), fn...)
	var loc []byte
	loc = appendU32(loc, uint32(len(locals)))
	for i := range uint32(len(funcs)) {
		names, ok := locals[i]
		if !ok {
			continue
		}
		loc = appendU32(appendU32(loc, i), uint32(len(names)))
		for j, n := range names {
			loc = appendName(appendU32(loc, uint32(j)), n)
		}
	}
	body = append(appendU32(append(body, 2), uint32(len(loc))), loc...)
	return append(code, section(0, body...)...)
}

// The name section survives, at the functions' new indices: a trap's
// stack trace names the guest's functions.
func TestInstrumentKeepsNames(t *testing.T) {
	ctx := context.Background()
	code := withNames(testModule(), "guest", []string{"spin", "count", "id", "init"}, map[uint32][]string{1: {"n", "i"}})
	out, err := Instrument(code, 100)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	compiled, err := rt.CompileModule(ctx, out)
	if err != nil {
		t.Fatalf("compile the instrumented module: %v", err)
	}
	if got := compiled.Name(); got != "guest" {
		t.Errorf("module name %q, want guest", got)
	}
	for name, idx := range map[string]uint32{"spin": 1, "count": 2} {
		def := compiled.ExportedFunctions()[name]
		if def == nil || def.Name() != name || def.Index() != idx {
			t.Errorf("export %s: %v, want the function named %s at index %d (after the refuel import)", name, def, name, idx)
			continue
		}
	}
	if imps := compiled.ImportedFunctions(); len(imps) != 1 || imps[0].Name() != refuelName {
		t.Errorf("imported functions %v, want the refuel import named %s", imps, refuelName)
	}
	if names := compiled.ExportedFunctions()["count"].ParamNames(); len(names) != 1 || names[0] != "n" {
		t.Errorf("count's parameter names %v, want [n]", names)
	}

	// A refuel that fails shows in a stack trace through spin.
	_, _, err = run(t, code, "spin", 0)
	if !errors.Is(err, errStop) || !strings.Contains(err.Error(), "guest.spin") {
		t.Errorf("spin stopped with %v, want %v and a stack trace naming guest.spin", err, errStop)
	}
}
