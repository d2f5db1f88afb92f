package meter

import (
	"context"
	"errors"
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
