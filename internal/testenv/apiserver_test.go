package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecideAPIServer(t *testing.T) {
	tests := []struct {
		name    string
		dir     string
		ci      string
		short   bool
		missing []string
		want    verdict
		reason  string
	}{
		{name: "ready", dir: "/assets", want: run},
		{name: "ready under CI", dir: "/assets", ci: "true", want: run},
		{name: "short", dir: "/assets", short: true, want: skip, reason: "-short"},
		{name: "short under CI", ci: "true", short: true, want: skip, reason: "-short"},
		{name: "unset", want: skip, reason: "KUBEBUILDER_ASSETS is not set"},
		{name: "unset under CI", ci: "true", want: fail, reason: "hack/envtest-assets.sh"},
		{name: "missing", dir: "/assets", missing: []string{"etcd"}, want: skip, reason: "lacks executable etcd"},
		{name: "missing under CI", dir: "/assets", ci: "1", missing: []string{"kube-apiserver", "etcd"}, want: fail,
			reason: "lacks executable kube-apiserver and etcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := decideAPIServer(tt.dir, tt.ci, tt.short, tt.missing)
			if got != tt.want {
				t.Errorf("verdict = %v, want %v (reason %q)", got, tt.want, reason)
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", reason, tt.reason)
			}
		})
	}
}

func TestMissingAssets(t *testing.T) {
	dir := t.TempDir()
	if got := missingAssets(dir); strings.Join(got, ",") != "kube-apiserver,etcd" {
		t.Errorf("empty folder: missing = %v, want both", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "kube-apiserver"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etcd"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := missingAssets(dir); strings.Join(got, ",") != "etcd" {
		t.Errorf("etcd not executable: missing = %v, want [etcd]", got)
	}
	if err := os.Remove(filepath.Join(dir, "etcd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("kube-apiserver", filepath.Join(dir, "etcd")); err != nil {
		t.Fatal(err)
	}
	if got := missingAssets(dir); len(got) != 0 {
		t.Errorf("executable files (etcd a symlink): missing = %v, want none", got)
	}
}
