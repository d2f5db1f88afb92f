package controller

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestCheckpointFiles(t *testing.T) {
	c := checkpoints{dir: t.TempDir(), max: 200}
	h := checkpointHeader{Trace: "ns/a", UID: "uid-a", Gadget: "probe", Format: "json", Time: time.Unix(1700000000, 0).UTC()}

	if _, _, ok, err := c.load("uid-a"); ok || err != nil {
		t.Fatalf("load before any save: ok %v, err %v", ok, err)
	}
	if err := c.save(h, writeString(`["one"]`)); err != nil {
		t.Fatal(err)
	}
	got, data, ok, err := c.load("uid-a")
	if err != nil || !ok {
		t.Fatalf("load: ok %v, err %v", ok, err)
	}
	b, _ := io.ReadAll(data)
	data.Close()
	if got != h || strings.TrimSpace(string(b)) != `["one"]` {
		t.Errorf("loaded %+v %q, want %+v and the data saved", got, b, h)
	}

	// Over the bound: not written, the previous checkpoint stays.
	err = c.save(h, writeString(`["`+strings.Repeat("x", 300)+`"]`))
	if err == nil || !strings.Contains(err.Error(), "exceeds the bound of 200 bytes") {
		t.Errorf("save over the bound: %v", err)
	}
	_, data, _, _ = c.load("uid-a")
	b, _ = io.ReadAll(data)
	data.Close()
	if strings.TrimSpace(string(b)) != `["one"]` {
		t.Errorf("after a save over the bound the checkpoint holds %q, want the previous one", b)
	}

	// A file under another trace's name is refused.
	if err := os.Rename(c.path("uid-a"), c.path("uid-b")); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := c.load("uid-b"); ok || err == nil || !strings.Contains(err.Error(), "belongs to trace UID uid-a") {
		t.Errorf("load of a misnamed checkpoint: ok %v, err %v", ok, err)
	}
	if err := c.remove("uid-b"); err != nil {
		t.Fatal(err)
	}
	if err := c.remove("uid-b"); err != nil {
		t.Errorf("remove of a missing checkpoint: %v", err)
	}
	entries, _ := os.ReadDir(c.dir)
	if len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
}

func TestCheckpointPrune(t *testing.T) {
	dir := t.TempDir()
	c := checkpoints{dir: dir, max: DefaultMaxCheckpoint}
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{"keep" + checkpointSuffix, "gone" + checkpointSuffix, ".tmp-gone-123", "other-file", "new" + checkpointSuffix} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "new"+checkpointSuffix {
			if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed, err := c.prune(map[types.UID]bool{"keep": true}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{".tmp-gone-123", "gone" + checkpointSuffix}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v (the kept trace's, a file written since the start and other files stay)", removed, want)
	}
}
