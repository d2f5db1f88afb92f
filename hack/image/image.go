package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/gadgetkit/gadget/hack/internal/build"
)

// DefaultVersionVar is the variable --version sets in the binary.
const DefaultVersionVar = "github.com/gadgetkit/gadget/internal/version.Version"

// The annotations containerd reads for the name of an imported image.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// Options say what image to build.
type Options struct {
	Pkg, Name, Tag, Out string
	Platforms           []v1.Platform
	BinaryPath          string
	Entrypoint, Cmd     []string
	Version, VersionVar string
	Vars, Labels        map[string]string
	Revision, Source    string
	SourceDateEpoch     string
	Tags                []string
	Go                  string
	// Dir is where go build runs; empty means the current directory.
	Dir string
}

// Result is what Build wrote.
type Result struct {
	Ref       string
	Index     v1.Hash
	Platforms []PlatformResult
	Out       string
	OutSize   int64
}

// PlatformResult is the image of one platform.
type PlatformResult struct {
	Platform  v1.Platform
	Manifest  v1.Hash
	LayerSize int64
}

func (r Result) print(w io.Writer) {
	fmt.Fprintf(w, "image  %s\nindex  %s\n", r.Ref, r.Index)
	for _, p := range r.Platforms {
		fmt.Fprintf(w, "  %-12s manifest %s  layer %d bytes (%.1f MiB)\n", p.Platform.String(), p.Manifest, p.LayerSize, float64(p.LayerSize)/(1<<20))
	}
	fmt.Fprintf(w, "wrote  %s (%d bytes)\n", r.Out, r.OutSize)
}

func (o *Options) complete() error {
	if o.Pkg == "" || o.Name == "" || o.Out == "" {
		return fmt.Errorf("--pkg, --name and --out are required (see -h)")
	}
	if o.Tag == "" {
		o.Tag = o.Version
	}
	if o.Tag == "" {
		return fmt.Errorf("no tag: set --tag or --version")
	}
	if err := checkRef(o.Name, o.Tag); err != nil {
		return err
	}
	if len(o.Platforms) == 0 {
		return fmt.Errorf("--platform is empty")
	}
	if o.BinaryPath == "" {
		o.BinaryPath = "/usr/local/bin/" + path.Base(filepath.ToSlash(o.Pkg))
	}
	if !path.IsAbs(o.BinaryPath) || path.Clean(o.BinaryPath) != o.BinaryPath || o.BinaryPath == "/" {
		return fmt.Errorf("--binary-path %q: want a clean absolute path such as /usr/local/bin/NAME", o.BinaryPath)
	}
	if len(o.Entrypoint) == 0 {
		o.Entrypoint = []string{o.BinaryPath}
	}
	if o.VersionVar == "" {
		o.VersionVar = DefaultVersionVar
	}
	return nil
}

// checkRef refuses a reference containerd and the kubelet would name
// differently: the repository must start with its registry.
func checkRef(repo, tag string) error {
	first, _, ok := strings.Cut(repo, "/")
	if !ok || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return fmt.Errorf("--name %q: start it with the registry (e.g. ghcr.io/you/%s): the kubelet looks images up by their full name", repo, path.Base(repo))
	}
	if repo != strings.ToLower(repo) || strings.ContainsAny(repo, "@ ") {
		return fmt.Errorf("--name %q: a repository is lower case, without tag or digest", repo)
	}
	if !tagOK(tag) {
		return fmt.Errorf("tag %q is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", tag)
	}
	return nil
}

func tagOK(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func parsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		osName, arch, ok := strings.Cut(p, "/")
		if !ok || osName == "" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("--platform %q: want os/arch, e.g. linux/arm64", p)
		}
		pl := v1.Platform{OS: osName, Architecture: arch}
		if slices.ContainsFunc(out, pl.Equals) {
			return nil, fmt.Errorf("--platform lists %s twice", p)
		}
		out = append(out, pl)
	}
	return out, nil
}

// Build builds the binary for each platform, makes an image of each, and
// writes their index as an OCI image-layout tarball to o.Out (replaced
// atomically).
func Build(ctx context.Context, o Options) (Result, error) {
	if err := o.complete(); err != nil {
		return Result{}, err
	}
	created, err := build.SourceDate(o.SourceDateEpoch)
	if err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp("", "gadget-image-")
	if err != nil {
		return Result{}, fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	vars := map[string]string{}
	for k, v := range o.Vars {
		vars[k] = v
	}
	if o.Version != "" {
		vars[o.VersionVar] = o.Version
	}
	bin := build.Binary{Pkg: o.Pkg, Dir: o.Dir, Vars: vars, Tags: o.Tags, Go: o.Go}
	res := Result{Ref: o.Name + ":" + o.Tag, Out: o.Out}
	var adds []mutate.IndexAddendum
	for _, p := range o.Platforms {
		exe := filepath.Join(tmp, p.OS+"-"+p.Architecture, path.Base(o.BinaryPath))
		if err := bin.Build(ctx, p.OS, p.Architecture, exe); err != nil {
			return Result{}, err
		}
		data, err := os.ReadFile(exe)
		if err != nil {
			return Result{}, fmt.Errorf("read the binary: %w", err)
		}
		img, layerSize, err := newImage(o, p, data, created)
		if err != nil {
			return Result{}, fmt.Errorf("image for %s: %w", p, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return Result{}, fmt.Errorf("image for %s: %w", p, err)
		}
		res.Platforms = append(res.Platforms, PlatformResult{Platform: p, Manifest: digest, LayerSize: layerSize})
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.Annotations(mutate.AppendManifests(empty.Index, adds...), imageAnnotations(o, created)).(v1.ImageIndex)
	if res.Index, err = idx.Digest(); err != nil {
		return Result{}, fmt.Errorf("image index: %w", err)
	}
	// index.json names the index; containerd names the image after these
	// annotations.
	top := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: idx, Descriptor: v1.Descriptor{
		Annotations: map[string]string{annotationContainerdName: res.Ref, annotationRefName: o.Tag},
	}})
	dir := filepath.Join(tmp, "layout")
	if _, err := layout.Write(dir, top); err != nil {
		return Result{}, fmt.Errorf("write the OCI layout: %w", err)
	}
	if res.OutSize, err = writeLayoutTar(dir, o.Out, created); err != nil {
		return Result{}, err
	}
	return res, nil
}

// imageAnnotations are the OCI labels of the image and annotations of its
// index.
func imageAnnotations(o Options, created time.Time) map[string]string {
	m := map[string]string{
		"org.opencontainers.image.created": created.Format(time.RFC3339),
		"org.opencontainers.image.title":   path.Base(o.Name),
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.source":   o.Source,
	} {
		if v != "" {
			m[k] = v
		}
	}
	for k, v := range o.Labels {
		m[k] = v
	}
	return m
}

// newImage is the image of one platform: one layer holding the binary.
// It returns the compressed size of the layer.
func newImage(o Options, p v1.Platform, binary []byte, created time.Time) (v1.Image, int64, error) {
	var raw bytes.Buffer
	if err := build.WriteTar(&raw, created, build.File{Path: o.BinaryPath, Mode: 0o755, Data: binary}); err != nil {
		return nil, 0, err
	}
	// Compressed here, once, with the standard library: its output for a
	// given input and level does not change between runs.
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, 0, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, 0, fmt.Errorf("gzip the layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, 0, fmt.Errorf("gzip the layer: %w", err)
	}
	compressed := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, 0, fmt.Errorf("layer: %w", err)
	}
	cfg := &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Variant:      p.Variant,
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			Entrypoint: o.Entrypoint,
			Cmd:        o.Cmd,
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			WorkingDir: "/",
			Labels:     imageAnnotations(o, created),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: created},
		CreatedBy: "hack/image: " + o.Pkg + " as " + o.BinaryPath,
	}})
	if err != nil {
		return nil, 0, fmt.Errorf("append the layer: %w", err)
	}
	return img, int64(len(compressed)), nil
}

// writeLayoutTar writes the OCI layout in dir as a tarball to out, files
// in path order with fixed headers, through a temporary file renamed into
// place. It returns the tarball's size.
func writeLayoutTar(dir, out string, mtime time.Time) (int64, error) {
	var files []build.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, build.File{Path: filepath.ToSlash(rel), Mode: 0o644, Data: data})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read the OCI layout: %w", err)
	}
	slices.SortFunc(files, func(a, b build.File) int { return strings.Compare(a.Path, b.Path) })
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, fmt.Errorf("output folder: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	defer os.Remove(f.Name())
	if err := build.WriteTar(f, mtime, files...); err != nil {
		f.Close()
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), out)
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	return size, nil
}
