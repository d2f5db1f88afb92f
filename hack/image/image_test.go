package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// buildHello builds the image of testdata/hello into dir.
func buildHello(t *testing.T, dir string) Result {
	t.Helper()
	o := Options{
		Pkg:             "./testdata/hello",
		Name:            "registry.example/gadget/hello",
		Version:         "v0.0.0-7-gabcdef0",
		Revision:        "abcdef0123456789",
		Source:          "https://example.invalid/gadget",
		SourceDateEpoch: "1700000000",
		Out:             filepath.Join(dir, "hello.tar"),
		Platforms:       []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
	}
	res, err := Build(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestBuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go binaries for two platforms")
	}
	a := buildHello(t, t.TempDir())
	b := buildHello(t, t.TempDir())
	if a.Index != b.Index {
		t.Errorf("two builds give index digests %s and %s", a.Index, b.Index)
	}
	ta, err := os.ReadFile(a.Out)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := os.ReadFile(b.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ta, tb) {
		t.Errorf("two builds give different tarballs (%d and %d bytes)", len(ta), len(tb))
	}
	if a.Ref != "registry.example/gadget/hello:v0.0.0-7-gabcdef0" {
		t.Errorf("reference %q", a.Ref)
	}

	// The tarball is an OCI layout: entries in order, fixed headers.
	layoutDir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(ta))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Unix(1700000000, 0)) {
			t.Errorf("%s: owner %d:%d %q, mtime %v", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		p := filepath.Join(layoutDir, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(names) < 4 || names[0] != "blobs/" || names[len(names)-2] != "index.json" || names[len(names)-1] != "oci-layout" {
		t.Errorf("tarball entries %v: want blobs/ … index.json oci-layout", names)
	}

	// index.json names one index, as containerd reads it.
	lp, err := layout.FromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != a.Index ||
		im.Manifests[0].Annotations[annotationContainerdName] != a.Ref ||
		im.Manifests[0].Annotations[annotationRefName] != "v0.0.0-7-gabcdef0" {
		t.Fatalf("index.json = %+v", im.Manifests)
	}
	idx, err := top.ImageIndex(a.Index)
	if err != nil {
		t.Fatal(err)
	}
	children, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(children.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want 2", len(children.Manifests))
	}
	for i, desc := range children.Manifests {
		want := a.Platforms[i]
		if desc.Platform == nil || !desc.Platform.Equals(want.Platform) || desc.Digest != want.Manifest {
			t.Errorf("manifest %d: platform %v digest %s; want %v %s", i, desc.Platform, desc.Digest, want.Platform, want.Manifest)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, img, want)
	}
}

// checkImage checks the config and the single layer of a hello image, and
// runs the binary when it is of this machine's platform.
func checkImage(t *testing.T, img v1.Image, want PlatformResult) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != want.Platform.OS || cfg.Architecture != want.Platform.Architecture ||
		!cfg.Created.Equal(time.Unix(1700000000, 0)) ||
		strings.Join(cfg.Config.Entrypoint, " ") != "/usr/local/bin/hello" ||
		cfg.Config.Labels["org.opencontainers.image.version"] != "v0.0.0-7-gabcdef0" ||
		cfg.Config.Labels["org.opencontainers.image.revision"] != "abcdef0123456789" ||
		cfg.Config.Labels["org.opencontainers.image.source"] != "https://example.invalid/gadget" {
		t.Errorf("%v config = %+v", want.Platform, cfg)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%v: %d layers, want 1", want.Platform, len(layers))
	}
	if size, _ := layers[0].Size(); size != want.LayerSize {
		t.Errorf("%v: layer size %d, reported %d", want.Platform, size, want.LayerSize)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var entries []string
	var binary []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, h.Name+" "+os.FileMode(h.Mode).String())
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
		if h.Typeflag == tar.TypeReg {
			if binary, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := strings.Join(entries, ", "); got != "usr/ -rwxr-xr-x, usr/local/ -rwxr-xr-x, usr/local/bin/ -rwxr-xr-x, usr/local/bin/hello -rwxr-xr-x" {
		t.Errorf("%v layer holds %s; want the binary and its folders only", want.Platform, got)
	}
	if want.Platform.OS != runtime.GOOS || want.Platform.Architecture != runtime.GOARCH {
		return
	}
	exe := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(exe, binary, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe).CombinedOutput()
	if err != nil || string(out) != "hello v0.0.0-7-gabcdef0\n" {
		t.Errorf("the image's binary prints %q (%v), want its stamped version", out, err)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // error text; empty for none
	}{
		{[]string{"--pkg", "./cmd/x", "--name", "ghcr.io/a/x", "--out", "x.tar", "--tag", "v1"}, ""},
		{[]string{"--pkg", "./cmd/x", "--name", "x", "--out", "x.tar", "--tag", "v1"}, "start it with the registry"},
		{[]string{"--pkg", "./cmd/x", "--name", "localhost:5000/x", "--out", "x.tar", "--tag", "v1+dirty"}, "not a valid image tag"},
		{[]string{"--pkg", "./cmd/x", "--name", "ghcr.io/a/x", "--out", "x.tar"}, "no tag"},
		{[]string{"--pkg", "./cmd/x", "--name", "ghcr.io/a/x", "--out", "x.tar", "--tag", "v1", "--platform", "linux"}, "want os/arch"},
		{[]string{"--pkg", "./cmd/x", "--name", "ghcr.io/a/x", "--out", "x.tar", "--tag", "v1", "--binary-path", "x"}, "clean absolute path"},
		{[]string{"--pkg", "./cmd/x", "--name", "ghcr.io/a/x", "--out", "x.tar", "--tag", "v1", "--set", "novalue"}, "want KEY=VALUE"},
	} {
		o, err := parseFlags(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil {
			err = o.complete()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
		if tc.want == "" && (o.BinaryPath != "/usr/local/bin/x" || strings.Join(o.Entrypoint, " ") != "/usr/local/bin/x" || len(o.Platforms) != 2) {
			t.Errorf("%v: defaults %+v", tc.args, o)
		}
	}
}
