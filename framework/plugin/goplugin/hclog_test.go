package goplugin

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	var l hclog.Logger = newSlogLogger(base)
	l = l.Named("plugin").With("id", 7).Named("stdio")
	l.Trace("trace is dropped")
	l.Debug("debug is dropped")
	l.Info("hello", "k", "v")
	l.Warn("careful")
	l.Error("broken")
	l.Log(hclog.Off, "off is dropped")
	_, _ = l.StandardWriter(nil).Write([]byte("a line\n"))

	want := []string{
		`level=INFO msg=hello logger=plugin.stdio id=7 k=v`,
		`level=WARN msg=careful logger=plugin.stdio id=7`,
		`level=ERROR msg=broken logger=plugin.stdio id=7`,
		`level=INFO msg="a line" logger=plugin.stdio id=7`,
	}
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("IsDebug=%t IsInfo=%t GetLevel=%v, want the handler's level (info)", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	if l.ResetNamed("x").Name() != "x" {
		t.Errorf("ResetNamed(x).Name() = %q", l.ResetNamed("x").Name())
	}
}
