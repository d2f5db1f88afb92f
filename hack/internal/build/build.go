// Package build holds what the release tools under hack/ share: building a
// static Go binary for a platform the same way every time, and writing
// tar archives whose bytes depend only on their content.
package build

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Binary is a Go main package to build as a static executable.
type Binary struct {
	// Pkg is the package, as go build takes it: "./cmd/gadgetd".
	Pkg string
	// Dir is the directory go build runs in (the module); empty means the
	// current directory.
	Dir string
	// Vars are set with -ldflags -X: import path.Name → value.
	Vars map[string]string
	// Tags are build tags.
	Tags []string
	// Go is the go command; empty means "go" on the PATH.
	Go string
}

// Build compiles b for goos/goarch into the file out: CGO_ENABLED=0,
// -trimpath, stripped (-s -w), no VCS stamp, the default instruction set
// of goarch whatever the environment asks, so that the same source and
// toolchain give the same bytes. It takes as long as go build: seconds
// from a warm build cache, minutes cold.
func (b Binary) Build(ctx context.Context, goos, goarch, out string) error {
	ldflags := []string{"-s", "-w"}
	for _, k := range slices.Sorted(mapKeys(b.Vars)) {
		ldflags = append(ldflags, "-X", k+"="+b.Vars[k])
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", strings.Join(ldflags, " "), "-o", out}
	if len(b.Tags) > 0 {
		args = append(args, "-tags", strings.Join(b.Tags, ","))
	}
	args = append(args, b.Pkg)
	goCmd := b.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = b.Dir
	cmd.Env = BuildEnv(os.Environ(), goos, goarch)
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w\n%s", b.Pkg, goos, goarch, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// BuildEnv is env with the variables that change what go build produces
// set for a static, reproducible build for goos/goarch.
func BuildEnv(env []string, goos, goarch string) []string {
	set := map[string]string{
		"CGO_ENABLED":  "0",
		"GOOS":         goos,
		"GOARCH":       goarch,
		"GOFLAGS":      "-buildvcs=false -mod=readonly",
		"GOAMD64":      "v1",
		"GOARM64":      "v8.0",
		"GOEXPERIMENT": "",
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(mapKeys(set)) {
		out = append(out, k+"="+set[k])
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// File is one regular file of an archive.
type File struct {
	// Path is the file's path in the archive, relative: "usr/local/bin/gadgetd".
	Path string
	Mode int64
	Data []byte
}

// WriteTar writes files as a tar stream whose bytes depend only on the
// files and mtime: the parent directories first (mode 0755), then each
// file, in the order given, all owned by 0:0 with no user or group name
// and the modification time mtime.
func WriteTar(w io.Writer, mtime time.Time, files ...File) error {
	tw := tar.NewWriter(w)
	mtime = mtime.UTC().Truncate(time.Second)
	seen := map[string]bool{}
	for _, f := range files {
		p := path.Clean(strings.TrimPrefix(f.Path, "/"))
		if p == "." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("tar: bad path %q", f.Path)
		}
		var dirs []string
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs = append(dirs, d)
		}
		slices.Reverse(dirs)
		for _, d := range dirs {
			if seen[d] {
				continue
			}
			seen[d] = true
			if err := tw.WriteHeader(header(d+"/", tar.TypeDir, 0o755, 0, mtime)); err != nil {
				return fmt.Errorf("tar %s: %w", d, err)
			}
		}
		if err := tw.WriteHeader(header(p, tar.TypeReg, f.Mode, int64(len(f.Data)), mtime)); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tar: %w", err)
	}
	return nil
}

func header(name string, typ byte, mode, size int64, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}
}

// SourceDate is the time of $SOURCE_DATE_EPOCH-style seconds s; empty
// means 1970-01-01T00:00:00Z.
func SourceDate(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("source date epoch %q: want seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}
