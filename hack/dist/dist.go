package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/gadgetkit/gadget/hack/internal/build"
)

// Options say what to build.
type Options struct {
	Pkg, Version, ImageRepo, URL, Out string
	Platforms                         []Platform
	Plugin, Homepage                  string
	SourceDateEpoch                   string
	Go                                string
	// Dir is where go build runs; empty means the current directory.
	Dir string
}

// Platform is an os/arch pair.
type Platform struct{ OS, Arch string }

// Result is what Build wrote.
type Result struct {
	Archives       []Archive
	Sums, Manifest string
}

// Archive is one platform's archive.
type Archive struct {
	Platform
	Path, SHA256, URI string
	Size              int64
}

const versionPkg = "github.com/gadgetkit/gadget/internal/version"

func parsePlatforms(s string) ([]Platform, error) {
	var out []Platform
	for _, p := range strings.Split(s, ",") {
		osName, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || osName == "" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("--platform %q: want os/arch, e.g. darwin/arm64", p)
		}
		out = append(out, Platform{osName, arch})
	}
	return out, nil
}

// Build builds one archive per platform into o.Out, then SHA256SUMS and
// the krew manifest, and checks the manifest against the archives.
func Build(ctx context.Context, o Options) (Result, error) {
	if o.Pkg == "" || o.Version == "" || o.URL == "" || o.Out == "" || len(o.Platforms) == 0 {
		return Result{}, errors.New("--pkg, --version, --url, --out and --platform are required (see -h)")
	}
	if !strings.HasPrefix(o.Version, "v") {
		return Result{}, fmt.Errorf("--version %q: krew wants a semantic version starting with v", o.Version)
	}
	mtime, err := build.SourceDate(o.SourceDateEpoch)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return Result{}, fmt.Errorf("output folder: %w", err)
	}
	tmp, err := os.MkdirTemp("", "gadget-dist-")
	if err != nil {
		return Result{}, fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	binName := "kubectl-" + o.Plugin
	// Archives of other versions would not match SHA256SUMS.
	stale, err := filepath.Glob(filepath.Join(o.Out, binName+"_*.tar.gz"))
	if err != nil {
		return Result{}, fmt.Errorf("output folder: %w", err)
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			return Result{}, fmt.Errorf("remove the old archive: %w", err)
		}
	}
	vars := map[string]string{versionPkg + ".Version": o.Version}
	if o.ImageRepo != "" {
		vars[versionPkg+".ImageRepo"] = o.ImageRepo
	}
	bin := build.Binary{Pkg: o.Pkg, Dir: o.Dir, Vars: vars, Go: o.Go}
	var res Result
	var sums strings.Builder
	for _, p := range o.Platforms {
		exe := filepath.Join(tmp, p.OS+"-"+p.Arch, binName)
		if err := bin.Build(ctx, p.OS, p.Arch, exe); err != nil {
			return Result{}, err
		}
		data, err := os.ReadFile(exe)
		if err != nil {
			return Result{}, fmt.Errorf("read the binary: %w", err)
		}
		var tgz bytes.Buffer
		zw, err := gzip.NewWriterLevel(&tgz, gzip.BestCompression) // no name, time 0: reproducible
		if err != nil {
			return Result{}, err
		}
		if err := build.WriteTar(zw, mtime, build.File{Path: binName, Mode: 0o755, Data: data}); err != nil {
			return Result{}, err
		}
		if err := zw.Close(); err != nil {
			return Result{}, fmt.Errorf("gzip: %w", err)
		}
		name := fmt.Sprintf("%s_%s_%s_%s.tar.gz", binName, o.Version, p.OS, p.Arch)
		a := Archive{Platform: p, Path: filepath.Join(o.Out, name), SHA256: sha256Hex(tgz.Bytes()),
			URI: strings.TrimSuffix(o.URL, "/") + "/" + name, Size: int64(tgz.Len())}
		if err := writeFile(a.Path, tgz.Bytes()); err != nil {
			return Result{}, err
		}
		fmt.Fprintf(&sums, "%s  %s\n", a.SHA256, name)
		res.Archives = append(res.Archives, a)
	}
	res.Sums = filepath.Join(o.Out, "SHA256SUMS")
	if err := writeFile(res.Sums, []byte(sums.String())); err != nil {
		return Result{}, err
	}
	var manifest bytes.Buffer
	if err := manifestTmpl.Execute(&manifest, map[string]any{"O": o, "Bin": binName, "Archives": res.Archives}); err != nil {
		return Result{}, fmt.Errorf("krew manifest: %w", err)
	}
	res.Manifest = filepath.Join(o.Out, o.Plugin+".yaml")
	if err := writeFile(res.Manifest, manifest.Bytes()); err != nil {
		return Result{}, err
	}
	if err := Verify(res.Manifest, o.Out); err != nil {
		return Result{}, err
	}
	return res, nil
}

var manifestTmpl = template.Must(template.New("krew").Parse(`# krew plugin manifest of kubectl {{.O.Plugin}} {{.O.Version}}, written by make dist.
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: {{.O.Plugin}}
spec:
  version: {{.O.Version}}
{{- with .O.Homepage}}
  homepage: {{.}}
{{- end}}
  shortDescription: Run eBPF gadgets such as network-graph on cluster nodes
  description: |
    kubectl gadget deploys gadget's node agent, gadgetd, as a DaemonSet and
    drives its eBPF gadgets through Trace resources: network-graph records
    which pods talk to which pods, services and hosts, and turns the graph
    into NetworkPolicies.
  platforms:
{{- range .Archives}}
  - selector:
      matchLabels:
        os: {{.OS}}
        arch: {{.Arch}}
    uri: {{.URI}}
    sha256: {{.SHA256}}
    bin: {{$.Bin}}
    files:
    - from: {{$.Bin}}
      to: .
{{- end}}
`))

// krewManifest is the part of a krew manifest Verify reads.
type krewManifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Version   string `yaml:"version"`
		Platforms []struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			URI    string `yaml:"uri"`
			SHA256 string `yaml:"sha256"`
			Bin    string `yaml:"bin"`
		} `yaml:"platforms"`
	} `yaml:"spec"`
}

// Verify reads the krew manifest file and checks, for each platform, that
// the archive its uri names exists in dir with that sha256 and holds the
// executable bin.
func Verify(file, dir string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("krew manifest: %w", err)
	}
	var m krewManifest
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("krew manifest %s: %w", file, err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name == "" || m.Spec.Version == "" {
		return fmt.Errorf("krew manifest %s: apiVersion %q kind %q name %q version %q", file, m.APIVersion, m.Kind, m.Metadata.Name, m.Spec.Version)
	}
	if len(m.Spec.Platforms) == 0 {
		return fmt.Errorf("krew manifest %s: no platforms", file)
	}
	for _, p := range m.Spec.Platforms {
		sel := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		archive := filepath.Join(dir, p.URI[strings.LastIndex(p.URI, "/")+1:])
		data, err := os.ReadFile(archive)
		if err != nil {
			return fmt.Errorf("krew manifest %s, platform %s: %w", file, sel, err)
		}
		if got := sha256Hex(data); got != p.SHA256 {
			return fmt.Errorf("krew manifest %s, platform %s: sha256 %s, but %s has %s", file, sel, p.SHA256, archive, got)
		}
		if err := holdsExecutable(data, p.Bin); err != nil {
			return fmt.Errorf("krew manifest %s, platform %s: %s: %w", file, sel, archive, err)
		}
	}
	return nil
}

// holdsExecutable checks that the tar.gz data holds the executable name.
func holdsExecutable(data []byte, name string) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("no file %s", name)
		}
		if err != nil {
			return err
		}
		if h.Name == name && h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && h.Size > 0 {
			return nil
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile replaces file with data through a temporary file.
func writeFile(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
