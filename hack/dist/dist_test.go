package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func buildDist(t *testing.T, out string) Result {
	t.Helper()
	res, err := Build(t.Context(), Options{
		Pkg: "./testdata/kubectl-hello", Version: "v0.0.0-7-gabcdef0", ImageRepo: "registry.example/hello",
		URL: "https://example.invalid/dl/", Out: out, Plugin: "hello", Homepage: "https://example.invalid",
		SourceDateEpoch: "1700000000",
		Platforms:       []Platform{{"linux", runtime.GOARCH}, {"darwin", "arm64"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDist(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go binaries for two platforms")
	}
	a, b := t.TempDir(), t.TempDir()
	ra := buildDist(t, a)
	buildDist(t, b)

	// Reproducible: the same files, byte for byte.
	names := []string{"SHA256SUMS", "hello.yaml",
		"kubectl-hello_v0.0.0-7-gabcdef0_linux_" + runtime.GOARCH + ".tar.gz", "kubectl-hello_v0.0.0-7-gabcdef0_darwin_arm64.tar.gz"}
	for _, n := range names {
		da, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between two builds", n)
		}
	}

	sums, err := os.ReadFile(ra.Sums)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(ra.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, arc := range ra.Archives {
		base := filepath.Base(arc.Path)
		if !strings.Contains(string(sums), arc.SHA256+"  "+base+"\n") {
			t.Errorf("SHA256SUMS lacks %s:\n%s", base, sums)
		}
		for _, want := range []string{"uri: https://example.invalid/dl/" + base, "sha256: " + arc.SHA256, "os: " + arc.OS, "arch: " + arc.Arch} {
			if !strings.Contains(string(manifest), want) {
				t.Errorf("manifest lacks %q:\n%s", want, manifest)
			}
		}
	}
	for _, want := range []string{"apiVersion: krew.googlecontainertools.github.com/v1alpha2", "kind: Plugin", "name: hello", "version: v0.0.0-7-gabcdef0", "bin: kubectl-hello"} {
		if !strings.Contains(string(manifest), want) {
			t.Errorf("manifest lacks %q", want)
		}
	}

	// The binary of this machine runs and says its version and image.
	data, err := os.ReadFile(ra.Archives[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header name %q time %v, want none", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "kubectl-hello" || h.Mode != 0o755 || h.Uid != 0 || h.ModTime.Unix() != 1700000000 {
		t.Errorf("archive entry %+v", h)
	}
	exe := filepath.Join(t.TempDir(), "kubectl-hello")
	bin, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(exe).CombinedOutput(); err != nil || string(out) != "v0.0.0-7-gabcdef0 registry.example/hello\n" {
		t.Errorf("kubectl-hello prints %q (%v)", out, err)
	}

	// Verify catches an archive that does not match the manifest.
	if err := os.WriteFile(ra.Archives[1].Path, []byte("not the archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ra.Manifest, a); err == nil || !strings.Contains(err.Error(), "platform darwin/arm64: sha256") {
		t.Errorf("Verify of a changed archive: %v", err)
	}
}
