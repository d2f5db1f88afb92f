package containers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
)

func TestWatch(t *testing.T) {
	boom := errors.New("boom")
	type answer struct {
		ids string // space-separated target IDs, each with "=POD" to name it
		err error
	}
	tests := []struct {
		name    string
		answers []answer
		want    string // events, e.g. "+a -b"
		wantErr string
	}{
		{name: "appear and vanish",
			answers: []answer{{ids: "a b"}, {ids: "b c"}, {ids: "c"}},
			want:    "+a +b +c -a -b"},
		{name: "no change, no event",
			answers: []answer{{ids: "a"}, {ids: "a"}, {ids: "a"}},
			want:    "+a"},
		{name: "adds in resolve order, removals sorted",
			answers: []answer{{ids: "c b a"}, {ids: "d"}},
			want:    "+c +b +a +d -a -b -c"},
		{name: "a failing tick keeps the targets",
			answers: []answer{{ids: "a b"}, {err: boom}, {ids: "a"}},
			want:    "+a +b -b"},
		{name: "duplicate IDs in one answer",
			answers: []answer{{ids: "a a b"}, {ids: "b"}},
			want:    "+a +b -a"},
		{name: "everything gone, then back",
			answers: []answer{{ids: "a"}, {ids: ""}, {ids: "a"}},
			want:    "+a -a +a"},
		{name: "a target renamed is added again, not removed",
			answers: []answer{{ids: "a=ip-7 b"}, {ids: "a=blue b"}, {ids: "a=blue"}},
			want:    "+a=ip-7 +b +a=blue -b"},
		{name: "first resolve fails",
			answers: []answer{{err: boom}},
			wantErr: "watch targets: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			// resolve, add and remove all run on Watch's goroutine: no
			// locking needed. Once every answer is given, resolve repeats
			// the last one and ends the watch.
			resolve := func(context.Context) ([]gadget.Target, error) {
				a := tt.answers[min(calls, len(tt.answers)-1)]
				calls++
				if calls > len(tt.answers) {
					cancel()
				}
				var ts []gadget.Target
				for _, f := range strings.Fields(a.ids) {
					id, pod, _ := strings.Cut(f, "=")
					ts = append(ts, gadget.Target{ID: id, Pod: pod})
				}
				return ts, a.err
			}
			var events []string
			err := runWatch(t, ctx, resolve,
				func(t gadget.Target) {
					if t.Pod != "" {
						events = append(events, "+"+t.ID+"="+t.Pod)
						return
					}
					events = append(events, "+"+t.ID)
				},
				func(id string) { events = append(events, "-"+id) })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(events, " "); got != tt.want {
				t.Errorf("events = %q, want %q", got, tt.want)
			}
			if calls <= len(tt.answers) {
				t.Errorf("resolve called %d times, want more than %d", calls, len(tt.answers))
			}
		})
	}
}

// runWatch runs Watch with a 1ms interval and fails the test if it has not
// returned within 10s.
func runWatch(t *testing.T, ctx context.Context, resolve func(context.Context) ([]gadget.Target, error),
	add func(gadget.Target), remove func(string)) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, time.Millisecond, resolve, add, remove) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return within 10s")
		return nil
	}
}

func TestWatchEnds(t *testing.T) {
	none := func(context.Context) ([]gadget.Target, error) { return nil, nil }
	noAdd := func(gadget.Target) { t.Error("unexpected add") }
	noRemove := func(string) { t.Error("unexpected remove") }

	t.Run("interval not positive", func(t *testing.T) {
		err := Watch(context.Background(), 0, none, noAdd, noRemove)
		if err == nil || !strings.Contains(err.Error(), "interval 0s: use a positive duration") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("context ends during the first resolve", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		err := runWatch(t, ctx, func(ctx context.Context) ([]gadget.Target, error) {
			cancel()
			return nil, ctx.Err()
		}, noAdd, noRemove)
		if err != nil {
			t.Errorf("error = %v, want nil", err)
		}
	})
	t.Run("context ends while idle", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ticks := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- Watch(ctx, time.Millisecond, func(context.Context) ([]gadget.Target, error) {
				select {
				case ticks <- struct{}{}:
				default:
				}
				return nil, nil
			}, noAdd, noRemove)
		}()
		<-ticks
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("error = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Watch did not return within 10s of the cancel")
		}
	})
}
