package build

import (
	"archive/tar"
	"bytes"
	"slices"
	"testing"
	"time"
)

func TestBuildEnv(t *testing.T) {
	env := BuildEnv([]string{"HOME=/root", "GOAMD64=v3", "CGO_ENABLED=1", "GOFLAGS=-mod=vendor", "PATH=/bin"}, "linux", "arm64")
	for _, want := range []string{"HOME=/root", "PATH=/bin", "GOAMD64=v1", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=-buildvcs=false -mod=readonly"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %v", want, env)
		}
	}
	for _, bad := range []string{"GOAMD64=v3", "CGO_ENABLED=1", "GOFLAGS=-mod=vendor"} {
		if slices.Contains(env, bad) {
			t.Errorf("env keeps %s", bad)
		}
	}
}

func TestSourceDate(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "1700000000": 1700000000} {
		got, err := SourceDate(in)
		if err != nil || got.Unix() != want {
			t.Errorf("SourceDate(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1", "12abc", "soon"} {
		if _, err := SourceDate(bad); err == nil {
			t.Errorf("SourceDate(%q) gives no error", bad)
		}
	}
}

func TestWriteTar(t *testing.T) {
	mtime := time.Unix(1700000000, 5e8)
	var a, b bytes.Buffer
	files := []File{{Path: "/usr/local/bin/x", Mode: 0o755, Data: []byte("bin")}, {Path: "usr/share/x.txt", Mode: 0o644, Data: []byte("doc")}}
	if err := WriteTar(&a, mtime, files...); err != nil {
		t.Fatal(err)
	}
	if err := WriteTar(&b, mtime, files...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same files give different tar bytes")
	}
	var got []string
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 1700000000 || h.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: %d:%d %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		got = append(got, h.Name)
	}
	want := []string{"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/x", "usr/share/", "usr/share/x.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if err := WriteTar(&a, mtime, File{Path: "../x"}); err == nil {
		t.Error("a path out of the archive is accepted")
	}
}
