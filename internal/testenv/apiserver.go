package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsEnv is the environment variable naming the folder that holds the
// kube-apiserver and etcd binaries of the Kubernetes tests, as
// controller-runtime's envtest reads it.
const AssetsEnv = "KUBEBUILDER_ASSETS"

// RequireAPIServer must be the first line of a test that runs a real
// kube-apiserver and etcd (controller-runtime envtest). It returns the
// folder named by $KUBEBUILDER_ASSETS once it holds executable
// kube-apiserver and etcd files. When they are missing the test is skipped
// with the reason and the fix (hack/envtest-assets.sh); under CI=true the
// same condition fails the test instead. With go test -short the test is
// always skipped.
func RequireAPIServer(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(AssetsEnv)
	v, reason := decideAPIServer(dir, os.Getenv("CI"), testing.Short(), missingAssets(dir))
	switch v {
	case fail:
		t.Fatalf("Kubernetes test cannot run under CI=true: %s", reason)
	case skip:
		t.Skip(reason)
	}
	return dir
}

// decideAPIServer tells whether a test needing the API server runs, skips
// or fails, and why. dir is $KUBEBUILDER_ASSETS, ci the value of $CI,
// short whether -short was given and missing the binaries dir lacks.
func decideAPIServer(dir, ci string, short bool, missing []string) (verdict, string) {
	var reason string
	switch {
	case short:
		return skip, "Kubernetes test skipped in -short mode"
	case dir == "":
		reason = AssetsEnv + " is not set: build the API server assets with hack/envtest-assets.sh and set " +
			AssetsEnv + "=/root/.cache/gadget-envtest (make test does both)"
	case len(missing) > 0:
		reason = AssetsEnv + "=" + dir + " lacks executable " + strings.Join(missing, " and ") +
			": build them with hack/envtest-assets.sh"
	default:
		return run, ""
	}
	if isCI(ci) {
		return fail, reason
	}
	return skip, reason
}

// missingAssets lists the envtest binaries dir does not hold as executable
// files.
func missingAssets(dir string) []string {
	if dir == "" {
		return nil
	}
	var missing []string
	for _, name := range []string{"kube-apiserver", "etcd"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// StartAPIServer starts a real kube-apiserver and etcd (envtest) for the
// test, after RequireAPIServer, and stops them when the test ends. env
// may set CRDs and the like; nil starts a bare API server. It returns the
// environment (for AddUser) and an admin's configuration.
func StartAPIServer(t testing.TB, env *envtest.Environment) (*envtest.Environment, *rest.Config) {
	t.Helper()
	assets := RequireAPIServer(t)
	if env == nil {
		env = &envtest.Environment{}
	}
	env.BinaryAssetsDirectory = assets
	return env, StartEnv(t, env)
}

// StartEnv starts env, whose BinaryAssetsDirectory the caller has set,
// and stops it when the test ends; a start that fails fails the test.
// StartAPIServer uses it after finding the assets; a test that must not
// skip without them (test/e2e) calls it directly.
func StartEnv(t testing.TB, env *envtest.Environment) *rest.Config {
	t.Helper()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})
	return cfg
}
