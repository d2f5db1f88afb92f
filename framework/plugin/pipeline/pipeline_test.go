package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin"
	"github.com/gadgetkit/gadget/framework/plugin/builtin"
	"github.com/gadgetkit/gadget/framework/plugin/pipeline"
	"github.com/gadgetkit/gadget/plugins/sdk/abi"
)

// echo is a formatter writing "#seq final=... events\n".
func echo(streaming bool, fail func(seq uint64) bool) plugin.Formatter {
	return builtin.Formatter(abi.Manifest{Name: "echo", Streaming: streaming},
		func(_ context.Context, b plugin.Batch, p map[string]string) (plugin.Formatted, error) {
			if fail != nil && fail(b.Sequence) {
				return plugin.Formatted{}, errors.New("broken on purpose")
			}
			s := "#" + itoa(b.Sequence) + " " + string(b.Events)
			if b.Final {
				s += " final"
			}
			if p["x"] != "" {
				s += " x=" + p["x"]
			}
			return plugin.Formatted{Data: []byte(s + "\n")}, nil
		})
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// tagger is an enricher replacing every event by its tag, or failing.
func tagger(name, tag string, fail bool) plugin.Enricher {
	return builtin.Enricher(abi.Manifest{Name: name}, func(_ context.Context, b plugin.Batch, _ map[string]string) ([]byte, error) {
		if fail {
			return nil, errors.New("enricher down")
		}
		if tag == "garbage" {
			return []byte("{not an array"), nil
		}
		return []byte(strings.ReplaceAll(string(b.Events), `"e"`, `"`+tag+`"`)), nil
	})
}

// runCount runs the batches through a pipeline of cfg and returns its
// output, its error lines and its Failures after Close.
func runCount(t *testing.T, cfg pipeline.Config, batches ...any) (stdout, stderr string, failures int) {
	t.Helper()
	var out, errw bytes.Buffer
	cfg.Stdout, cfg.Stderr, cfg.Gadget = &out, &errw, "g"
	p, err := pipeline.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := p.Batch(b); err != nil {
			t.Fatalf("Batch: %v", err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return out.String(), errw.String(), p.Failures()
}

func TestPipeline(t *testing.T) {
	failOn2 := func(seq uint64) bool { return seq == 2 }
	tests := []struct {
		name       string
		cfg        pipeline.Config
		wantOut    string
		wantErrors []string
		failures   int
	}{
		{
			name:    "streaming",
			cfg:     pipeline.Config{Formatter: echo(true, nil), Params: map[string]map[string]string{"echo": {"x": "1"}}},
			wantOut: "#1 [\"e\"] x=1\n#2 [\"e\",\"e\"] x=1\n",
		},
		{
			name:    "final",
			cfg:     pipeline.Config{Formatter: echo(false, nil)},
			wantOut: "#3 [\"e\",\"e\",\"e\"] final\n",
		},
		{
			name: "final merged by the gadget",
			cfg: pipeline.Config{Formatter: echo(false, nil), Final: func(b []byte) ([]byte, error) {
				return []byte(`["merged"]`), nil
			}},
			wantOut: "#3 [\"merged\"] final\n",
		},
		{
			name:    "final merged as the batches arrive",
			cfg:     pipeline.Config{Formatter: echo(false, nil), NewMerger: newCounter(""), Final: failFinal},
			wantOut: "#3 [\"3 events in 2 batches\"] final\n",
		},
		{
			name:       "a batch the merger refuses follows the final result",
			cfg:        pipeline.Config{Formatter: echo(false, nil), NewMerger: newCounter(`["e","e"]`)},
			wantOut:    "#3 [\"1 events in 1 batches\",\"e\",\"e\"] final\n",
			wantErrors: []string{"error: batch 2: merge it into the final result: refused on purpose; it follows the final result as it is"},
		},
		{
			name:    "a streaming formatter needs no merger",
			cfg:     pipeline.Config{Formatter: echo(true, nil), NewMerger: newCounter("")},
			wantOut: "#1 [\"e\"]\n#2 [\"e\",\"e\"]\n",
		},
		{
			name:    "enricher chain in order",
			cfg:     pipeline.Config{Formatter: echo(true, nil), Enrichers: []plugin.Enricher{tagger("a", "A", false), tagger("b", "B", false)}},
			wantOut: "#1 [\"A\"]\n#2 [\"A\",\"A\"]\n",
		},
		{
			name:       "failing enricher is skipped",
			cfg:        pipeline.Config{Formatter: echo(true, nil), Enrichers: []plugin.Enricher{tagger("down", "", true), tagger("b", "B", false)}},
			wantOut:    "#1 [\"B\"]\n#2 [\"B\",\"B\"]\n",
			wantErrors: []string{`error: plugin "down" (built-in): batch 1: plugin failed: enricher down; the batch goes on without this enricher`},
			failures:   2,
		},
		{
			name:       "garbage enricher is skipped",
			cfg:        pipeline.Config{Formatter: echo(true, nil), Enrichers: []plugin.Enricher{tagger("bad", "garbage", false)}},
			wantOut:    "#1 [\"e\"]\n#2 [\"e\",\"e\"]\n",
			wantErrors: []string{`error: plugin "bad": batch 2: plugin failed: the enriched batch is not a JSON array; the batch goes on without this enricher`},
			failures:   2,
		},
		{
			name: "enricher result refused by the gadget's check",
			cfg: pipeline.Config{Formatter: echo(true, nil), Enrichers: []plugin.Enricher{tagger("inventor", "X", false)},
				CheckEnriched: func(in, out []byte) error {
					if strings.Contains(string(out), "X") {
						return errors.New("edge X is not in the batch")
					}
					return nil
				}},
			wantOut:    "#1 [\"e\"]\n#2 [\"e\",\"e\"]\n",
			wantErrors: []string{`error: enricher "inventor": batch 1: plugin failed: edge X is not in the batch; the batch goes on without this enricher`},
			failures:   2,
		},
		{
			name:    "failing formatter falls back to JSON",
			cfg:     pipeline.Config{Formatter: echo(true, failOn2)},
			wantOut: "#1 [\"e\"]\n[\n  \"e\",\n  \"e\"\n]\n",
			wantErrors: []string{
				`error: plugin "echo" (built-in): batch 2: plugin failed: broken on purpose`,
				"warning: batch 2 is written as JSON instead",
			},
			failures: 1,
		},
		{
			name: "failing formatter falls back to the fallback formatter",
			cfg: pipeline.Config{Formatter: echo(true, failOn2), Fallback: builtin.Formatter(abi.Manifest{Name: "json"},
				func(_ context.Context, b plugin.Batch, _ map[string]string) (plugin.Formatted, error) {
					return plugin.Formatted{Data: append([]byte("fallback "), append(b.Events, '\n')...)}, nil
				})},
			wantOut:    "#1 [\"e\"]\nfallback [\"e\",\"e\"]\n",
			wantErrors: []string{"warning: batch 2 is written as JSON instead"},
			failures:   1,
		},
		{
			name: "messages of every batch",
			cfg: pipeline.Config{Formatter: echo(false, nil), Messages: func(b []byte, w io.Writer) error {
				_, err := io.WriteString(w, "saw "+string(b)+"\n")
				return err
			}},
			wantOut:    "#3 [\"e\",\"e\",\"e\"] final\n",
			wantErrors: []string{"saw [\"e\"]", "saw [\"e\",\"e\"]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, failures := runCount(t, tt.cfg, []string{"e"}, []byte(`["e","e"]`))
			if out != tt.wantOut {
				t.Errorf("stdout = %q, want %q", out, tt.wantOut)
			}
			if failures != tt.failures {
				t.Errorf("Failures() = %d, want %d", failures, tt.failures)
			}
			for _, want := range tt.wantErrors {
				if !strings.Contains(errs, want+"\n") {
					t.Errorf("stderr %q lacks the line %q", errs, want)
				}
			}
			if len(tt.wantErrors) == 0 && errs != "" {
				t.Errorf("stderr = %q, want nothing", errs)
			}
		})
	}
}

// counter is a Merger counting events and batches; it refuses the batch
// equal to refuse.
type counter struct {
	refuse          string
	events, batches int
}

func newCounter(refuse string) func() pipeline.Merger {
	return func() pipeline.Merger { return &counter{refuse: refuse} }
}

func (c *counter) Add(b []byte) error {
	if string(b) == c.refuse {
		return errors.New("refused on purpose")
	}
	c.batches++
	c.events += strings.Count(string(b), `"e"`)
	return nil
}

func (c *counter) Result() ([]byte, error) {
	return []byte(fmt.Sprintf(`["%d events in %d batches"]`, c.events, c.batches)), nil
}

// failFinal is a Final that must not be called.
func failFinal([]byte) ([]byte, error) {
	return nil, errors.New("Final called although a merger is set")
}

func TestAbort(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		var out bytes.Buffer
		closed := 0
		p, err := pipeline.New(context.Background(), pipeline.Config{Formatter: echo(streaming, nil), NewMerger: newCounter(""),
			Stdout: &out, Close: func() error { closed++; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Batch([]string{"e"}); err != nil {
			t.Fatal(err)
		}
		if err := p.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		want := ""
		if streaming {
			want = "#1 [\"e\"]\n"
		}
		if out.String() != want || closed != 1 {
			t.Errorf("streaming %v: after Abort stdout = %q and Config.Close called %d times, want %q and once", streaming, out.String(), closed, want)
		}
		if err := p.Close(); !errors.Is(err, pipeline.ErrClosed) {
			t.Errorf("Close after Abort = %v, want ErrClosed", err)
		}
	}
}

func TestBatchAfterClose(t *testing.T) {
	p, err := pipeline.New(context.Background(), pipeline.Config{Formatter: echo(true, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Batch([]string{"e"}); !errors.Is(err, pipeline.ErrClosed) {
		t.Errorf("Batch after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, pipeline.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestNotAnArray(t *testing.T) {
	p, err := pipeline.New(context.Background(), pipeline.Config{Formatter: echo(true, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Batch(42); err == nil {
		t.Error("Batch(42) succeeded, want an error")
	}
}

// TestByteLimits: a batch larger than MaxBatchBytes reaches no plugin (the
// enricher is skipped, the fallback formats it) and the error names the
// plugin; batches beyond MaxHeldBytes are left out of a final result.
func TestByteLimits(t *testing.T) {
	small, big := `["e"]`, `["e","e","e","e","e","e","e","e"]`
	cfg := pipeline.Config{
		Enrichers:     []plugin.Enricher{tagger("tag", "t", false)},
		Formatter:     echo(true, nil),
		MaxBatchBytes: 10,
	}
	out, errs, failures := runCount(t, cfg, []byte(small), []byte(big))
	if !strings.Contains(out, `#1 ["t"]`) {
		t.Errorf("small batch: output %q, want it enriched and formatted", out)
	}
	for _, want := range []string{`plugin "tag": batch 2`, `plugin "echo": batch 2`, "the batch is 33 bytes, more than the 10 bytes"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors %q do not say %q", errs, want)
		}
	}
	if !strings.Contains(out, `"e"`) || failures != 2 {
		t.Errorf("big batch: output %q, %d failures; want it written by the fallback, 2 failures", out, failures)
	}

	cfg = pipeline.Config{Formatter: echo(false, nil), MaxHeldBytes: 12}
	out, errs, failures = runCount(t, cfg, []byte(small), []byte(small), []byte(small))
	if !strings.Contains(out, `#4 ["e","e"] final`) || failures != 1 || !strings.Contains(errs, "batch 3 of 5 bytes is left out of the final result") {
		t.Errorf("held limit: output %q, errors %q, %d failures; want 2 batches in the final result and batch 3 left out", out, errs, failures)
	}
}
