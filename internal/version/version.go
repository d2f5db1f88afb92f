// Package version is the version of gadget's programs and of the gadgetd
// image that goes with them. Release builds set both variables with the
// linker (make image, make dist):
//
//	go build -ldflags "-X github.com/gadgetkit/gadget/internal/version.Version=v0.1.0 \
//	    -X github.com/gadgetkit/gadget/internal/version.ImageRepo=REGISTRY/gadgetd" ./cmd/...
//
// hack/version.sh computes the version from git describe. The package
// imports the standard library only, so that any program may stamp itself.
package version

import (
	"regexp"
	"runtime/debug"
)

// Version is set by -ldflags -X at build time; empty in a plain go build,
// where Get falls back to the module version or Dev.
var Version string

// ImageRepo is the repository of the gadgetd image, without tag; the
// Makefile's IMAGE_REPO sets it with -ldflags -X.
var ImageRepo = "ghcr.io/gadgetkit/gadgetd"

// Dev is the version of a build that was not stamped: go build or go run
// inside the repository.
const Dev = "dev"

// tagRE is what an image tag may hold (the OCI distribution spec).
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Get returns the version of this program: Version when the build set it,
// else the module version of a `go install …@vX.Y.Z`, else Dev.
func Get() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		return fromModule(bi.Main.Version)
	}
	return Dev
}

// fromModule is the version of a program built from the module version v
// ("(devel)" inside the repository): v itself when it can name an image.
func fromModule(v string) string {
	if v == "" || v == "(devel)" || !tagRE.MatchString(v) {
		return Dev
	}
	return v
}

// IsDev tells whether v is the version of an unstamped build, which has
// no image of its own.
func IsDev(v string) bool { return v == Dev }

// Image returns the gadgetd image of this version, ImageRepo:Get(), and
// whether there is one: an unstamped (Dev) build has none.
func Image() (string, bool) {
	v := Get()
	if IsDev(v) {
		return "", false
	}
	return ImageRepo + ":" + v, true
}

// ValidTag tells whether s can be an image tag.
func ValidTag(s string) bool { return tagRE.MatchString(s) }
