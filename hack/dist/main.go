// Command dist builds the release archives of a Go program that is a
// kubectl plugin — kubectl-gadget — with a SHA256SUMS file and a krew
// plugin manifest, all reproducible. make dist runs it.
//
// Usage:
//
//	go run ./hack/dist --pkg ./cmd/kubectl-gadget --version v0.1.0 \
//	    --url https://example.org/releases/v0.1.0 --out bin/dist [flags]
//
// Flags:
//
//	--pkg PKG               Go main package to build (required)
//	--version V             the version: stamped in the binary, named in the archives and the manifest (required)
//	--image-repo REPO       the gadgetd image repository stamped in the binary (default: the package's default)
//	--url URL               where the archives will be downloaded from; the manifest's uri is URL/ARCHIVE (required)
//	--out DIR               output folder (required); its kubectl-NAME_*.tar.gz, SHA256SUMS and manifest are replaced
//	--platform LIST         comma-separated os/arch list (default linux/amd64,linux/arm64,darwin/amd64,darwin/arm64)
//	--plugin NAME           the krew plugin name (default gadget); the binary is kubectl-NAME
//	--homepage URL          the manifest's homepage
//	--source-date-epoch S   seconds since 1970 for the archives' timestamps (default $SOURCE_DATE_EPOCH, else 0)
//	--go CMD                the go command (default $GO, else go)
//
// It writes, for each platform, kubectl-NAME_VERSION_OS_ARCH.tar.gz holding
// the static binary kubectl-NAME (mode 0755, owner 0:0, fixed time; gzip
// header without name or time), then SHA256SUMS (sha256sum -c reads it)
// and the krew manifest NAME.yaml. It then reads the manifest back and
// checks each platform's sha256 against its archive, and each archive
// holds the binary the manifest names.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
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
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o Options
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dist --pkg PKG --version V --url URL --out DIR [flags]")
		fmt.Fprintln(stderr, "Builds reproducible kubectl plugin archives, SHA256SUMS and a krew manifest.")
		fs.PrintDefaults()
	}
	var platforms string
	fs.StringVar(&o.Pkg, "pkg", "", "Go main package to build (required)")
	fs.StringVar(&o.Version, "version", "", "version stamped in the binary and named in the archives and manifest (required)")
	fs.StringVar(&o.ImageRepo, "image-repo", "", "gadgetd image repository stamped in the binary (default: the version package's)")
	fs.StringVar(&o.URL, "url", "", "download folder of the archives; the manifest's uri is URL/ARCHIVE (required)")
	fs.StringVar(&o.Out, "out", "", "output folder (required)")
	fs.StringVar(&platforms, "platform", "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64", "comma-separated os/arch list")
	fs.StringVar(&o.Plugin, "plugin", "gadget", "krew plugin name; the binary is kubectl-NAME")
	fs.StringVar(&o.Homepage, "homepage", "", "the manifest's homepage")
	fs.StringVar(&o.SourceDateEpoch, "source-date-epoch", getenv("SOURCE_DATE_EPOCH"), "seconds since 1970 for the archives' timestamps (default $SOURCE_DATE_EPOCH, else 0)")
	goCmd := getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	fs.StringVar(&o.Go, "go", goCmd, "the go command (default $GO, else go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: dist takes flags only (see -h)", fs.Arg(0))
	}
	var err error
	if o.Platforms, err = parsePlatforms(platforms); err != nil {
		return err
	}
	res, err := Build(ctx, o)
	if err != nil {
		return err
	}
	for _, a := range res.Archives {
		fmt.Fprintf(stdout, "%s  %s  %d bytes\n", a.SHA256, a.Path, a.Size)
	}
	fmt.Fprintf(stdout, "wrote  %s, %s (sha256 of every platform checked)\n", res.Sums, res.Manifest)
	return nil
}
