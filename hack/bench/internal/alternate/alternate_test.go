package alternate

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// windowsOf builds alternating windows of one second each, the first on,
// each moving the given count of a single counter.
func windowsOf(counts ...uint64) []window {
	t := time.Unix(0, 0)
	var ws []window
	for i, c := range counts {
		ws = append(ws, window{on: i%2 == 0, start: t, end: t.Add(time.Second), counts: []uint64{c}})
		t = t.Add(time.Second)
	}
	return ws
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name    string
		windows []window
		slices  int
		ratio   float64
		rng     [2]float64
		wantErr bool
	}{
		// The first window is on but has no off window before it.
		{name: "ends left out", windows: windowsOf(50, 100, 90, 100), slices: 1, ratio: 0.9, rng: [2]float64{0.9, 0.9}},
		// 90 against (100+80)/2, 72 against (80+100)/2.
		{name: "neighbours averaged", windows: windowsOf(0, 100, 90, 80, 72, 100, 0), slices: 2, ratio: 0.9, rng: [2]float64{0.8, 1}},
		{name: "idle neighbours skipped", windows: windowsOf(0, 0, 50, 0, 45, 100, 0), slices: 1, ratio: 0.9, rng: [2]float64{0.9, 0.9}},
		{name: "too short", windows: windowsOf(10, 10), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := compare(tt.windows, 1)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("compare: no error, want one (result %+v)", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("compare: %v", err)
			}
			f := res.Figures[0]
			if res.Slices != tt.slices || math.Abs(f.Ratio-tt.ratio) > 1e-9 ||
				math.Abs(f.Range[0]-tt.rng[0]) > 1e-9 || math.Abs(f.Range[1]-tt.rng[1]) > 1e-9 {
				t.Errorf("compare = %d slices, ratio %v, range %v; want %d, %v, %v", res.Slices, f.Ratio, f.Range, tt.slices, tt.ratio, tt.rng)
			}
		})
	}
}

func TestStateWhole(t *testing.T) {
	var s State
	s.attached.Store(true)
	e, on := s.Mark()
	if !s.Whole(e, on) {
		t.Error("Whole = false with nothing switched since Mark, want true")
	}
	s.epoch.Add(1) // a switch began (and ended: still attached)
	if s.Whole(e, on) {
		t.Error("Whole = true across a switch, want false")
	}
	s.attached.Store(false)
	e, on = s.Mark()
	if s.Whole(e, on) {
		t.Error("Whole = true while detached, want false")
	}
}

// recorder is a Switch that records its calls.
type recorder struct {
	calls []string
	fail  error
}

func (r *recorder) On(context.Context) error  { r.calls = append(r.calls, "on"); return r.fail }
func (r *recorder) Off(context.Context) error { r.calls = append(r.calls, "off"); return nil }
func (r *recorder) Close(context.Context)     {}

func TestRunSwitchesInTurnAndEndsOff(t *testing.T) {
	var n atomic.Uint64
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				n.Add(1)
			}
		}
	}()
	rec := &recorder{}
	var state State
	res, err := Run(t.Context(), rec, &state, Options{Total: 600 * time.Millisecond, Slice: 100 * time.Millisecond, Settle: 10 * time.Millisecond}, &n)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rec.calls) < 6 || rec.calls[len(rec.calls)-1] != "off" {
		t.Fatalf("calls = %v, want at least 6, the last an off", rec.calls)
	}
	for i, c := range rec.calls {
		if want := map[bool]string{true: "off", false: "on"}[i%2 == 0]; c != want {
			t.Fatalf("call %d = %s, want %s: %v", i, c, want, rec.calls)
		}
	}
	if state.Attached() {
		t.Error("attached after Run, want detached")
	}
	if res.Slices < 1 || len(res.Figures) != 1 {
		t.Errorf("result %+v: want at least one slice and one figure", res)
	}
}

func TestRunStopsOnSwitchError(t *testing.T) {
	boom := errors.New("boom")
	var n atomic.Uint64
	var state State
	_, err := Run(t.Context(), &recorder{fail: boom}, &state, Options{Total: time.Second, Slice: 100 * time.Millisecond, Settle: 10 * time.Millisecond}, &n)
	if !errors.Is(err, boom) {
		t.Fatalf("Run error = %v, want %v", err, boom)
	}
	if _, err := Run(t.Context(), &recorder{}, &state, Options{Total: time.Second, Slice: 10 * time.Millisecond, Settle: 10 * time.Millisecond}, &n); err == nil {
		t.Fatal("Run with a slice no longer than the settling time: no error, want one")
	}
}

func TestFlagsCheck(t *testing.T) {
	ok := Flags{A: "a", B: "b", Seconds: 20, Slice: 500 * time.Millisecond, Mode: "trivial"}
	tests := []struct {
		name string
		edit func(*Flags)
		want string // "" for no error, else a part of it
	}{
		{name: "valid", edit: func(*Flags) {}},
		{name: "no a", edit: func(f *Flags) { f.A = "" }, want: "-a and -b"},
		{name: "no b", edit: func(f *Flags) { f.B = "" }, want: "-a and -b"},
		{name: "zero seconds", edit: func(f *Flags) { f.Seconds = 0 }, want: "-seconds 0"},
		{name: "short slice", edit: func(f *Flags) { f.Slice = 99 * time.Millisecond }, want: "-slice 99ms must be at least 100ms"},
		{name: "unknown mode", edit: func(f *Flags) { f.Mode = "tcpdump" }, want: `-mode "tcpdump"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ok
			tt.edit(&f)
			err := f.Check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if o := f.Options(); o.Total != 20*time.Second || o.Slice != f.Slice || o.Settle != Settle {
					t.Errorf("Options = %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
