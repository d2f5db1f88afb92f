// Command image builds an OCI image holding one static Go binary, for
// several platforms, without a container engine, and writes it as one OCI
// image-layout tarball: an image index of one image per platform, named so
// that containerd imports it under its reference. make image runs it for
// gadgetd; the real-node tests use it for their small workload images.
//
// Usage:
//
//	go run ./hack/image --pkg ./cmd/gadgetd --name ghcr.io/gadgetkit/gadgetd \
//	    --version v0.1.0 --out bin/gadgetd-image.tar [flags]
//
// Flags:
//
//	--pkg PKG               Go main package to build (required), e.g. ./cmd/gadgetd
//	--name REPO             image repository with its registry (required), e.g. ghcr.io/gadgetkit/gadgetd
//	--tag TAG               image tag (default: --version)
//	--out FILE              the OCI image-layout tarball to write (required)
//	--platform LIST         comma-separated os/arch list (default linux/amd64,linux/arm64)
//	--binary-path PATH      where the binary goes in the image (default /usr/local/bin/<last element of --pkg>)
//	--entrypoint ARG        the entrypoint; repeat for each argument (default --binary-path)
//	--cmd ARG               default arguments after the entrypoint; repeat for each
//	--version V             the version stamped in the binary and the image labels
//	--version-var NAME      the string variable -ldflags -X sets to --version
//	                        (default github.com/gadgetkit/gadget/internal/version.Version)
//	--set NAME=VALUE        one more -X assignment; repeat as needed
//	--revision REV          the commit, label org.opencontainers.image.revision
//	--source URL            label org.opencontainers.image.source
//	--label KEY=VALUE       one more image label; repeat as needed
//	--source-date-epoch S   seconds since 1970 for every timestamp (default $SOURCE_DATE_EPOCH, else 0)
//	--tags LIST             Go build tags
//	--go CMD                the go command (default $GO, else go)
//
// The binary is built with CGO_ENABLED=0, -trimpath, -ldflags "-s -w -X …"
// and no VCS stamp. Each image has one layer, the binary (mode 0755, owned
// 0:0) and its parent directories, and nothing else: no shell. Every
// timestamp is --source-date-epoch, so the same source, flags and Go
// toolchain give the same bytes and digests.
//
// The tarball's index.json names one image index, annotated with
// io.containerd.image.name (REPO:TAG, what ctr images import names the
// image) and org.opencontainers.image.ref.name (TAG). Load it on a node
// with
//
//	ctr -n k8s.io images import --all-platforms FILE
//
// or push it, unpacked, with crane (see docs/kubernetes.md). When done,
// image prints the reference, the index digest and each platform's
// manifest digest and layer size.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	res, err := Build(ctx, o)
	if err != nil {
		return err
	}
	res.print(stdout)
	return nil
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: image --pkg PKG --name REPO --out FILE.tar [flags]")
		fmt.Fprintln(stderr, "Builds a static Go binary into a multi-platform OCI image-layout tarball (no container engine).")
		fs.PrintDefaults()
	}
	var platforms string
	var entrypoint, cmd, sets, labels listFlag
	fs.StringVar(&o.Pkg, "pkg", "", "Go main package to build (required), e.g. ./cmd/gadgetd")
	fs.StringVar(&o.Name, "name", "", "image repository with its registry (required), e.g. ghcr.io/gadgetkit/gadgetd")
	fs.StringVar(&o.Tag, "tag", "", "image tag (default: --version)")
	fs.StringVar(&o.Out, "out", "", "OCI image-layout tarball to write (required)")
	fs.StringVar(&platforms, "platform", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	fs.StringVar(&o.BinaryPath, "binary-path", "", "path of the binary in the image (default /usr/local/bin/<last element of --pkg>)")
	fs.Var(&entrypoint, "entrypoint", "entrypoint argument; repeat for each (default --binary-path)")
	fs.Var(&cmd, "cmd", "default argument after the entrypoint; repeat for each")
	fs.StringVar(&o.Version, "version", "", "version stamped in the binary (--version-var) and in the labels")
	fs.StringVar(&o.VersionVar, "version-var", DefaultVersionVar, "string variable that -ldflags -X sets to --version")
	fs.Var(&sets, "set", "one more -ldflags -X NAME=VALUE; repeat as needed")
	fs.StringVar(&o.Revision, "revision", "", "commit, label org.opencontainers.image.revision")
	fs.StringVar(&o.Source, "source", "", "source URL, label org.opencontainers.image.source")
	fs.Var(&labels, "label", "one more image label KEY=VALUE; repeat as needed")
	fs.StringVar(&o.SourceDateEpoch, "source-date-epoch", getenv("SOURCE_DATE_EPOCH"), "seconds since 1970 for every timestamp (default $SOURCE_DATE_EPOCH, else 0)")
	var tags string
	fs.StringVar(&tags, "tags", "", "comma-separated Go build tags")
	goCmd := getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	fs.StringVar(&o.Go, "go", goCmd, "the go command (default $GO, else go)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: image takes flags only (see -h)", fs.Arg(0))
	}
	var err error
	if o.Platforms, err = parsePlatforms(platforms); err != nil {
		return o, err
	}
	o.Entrypoint, o.Cmd = entrypoint, cmd
	if tags != "" {
		o.Tags = strings.Split(tags, ",")
	}
	if o.Vars, err = keyValues("--set", sets); err != nil {
		return o, err
	}
	if o.Labels, err = keyValues("--label", labels); err != nil {
		return o, err
	}
	return o, nil
}

func keyValues(flagName string, list []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE", flagName, kv)
		}
		m[k] = v
	}
	return m, nil
}
