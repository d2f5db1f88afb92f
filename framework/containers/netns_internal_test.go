package containers

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestNetnsInodeOn(t *testing.T) {
	dev, err := nsfsDev("/proc")
	if err != nil {
		t.Skipf("no namespace file system here: %v", err)
	}
	want, err := NetnsInode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := netnsInodeOn(dev, "/proc/self/ns/net"); err != nil || got != want {
		t.Errorf("netnsInodeOn(/proc/self/ns/net) = %d, %v; want %d as NetnsInode says", got, err, want)
	}
	stale := filepath.Join(t.TempDir(), "stale")
	if err := os.WriteFile(stale, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := netnsInodeOn(dev, stale); !errors.Is(err, errNotNamespace) {
		t.Errorf("netnsInodeOn(a plain file) = %v, want errNotNamespace", err)
	}
	if _, err := netnsInodeOn(dev, stale+"-missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netnsInodeOn(a missing file) = %v, want fs.ErrNotExist", err)
	}
}

func TestDistinctDirs(t *testing.T) {
	root := t.TempDir()
	run := filepath.Join(root, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	varRun := filepath.Join(root, "var-run")
	if err := os.Symlink(run, varRun); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(root, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(root, "missing")
	got := distinctDirs(varRun, run, other, missing, other)
	if want := []string{varRun, other, missing}; !slices.Equal(got, want) {
		t.Errorf("distinctDirs = %v, want %v", got, want)
	}
}
