package testenv

import (
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	const lacks = "kernel without network namespaces"
	tests := []struct {
		name       string
		euid       int
		ci         string
		short      bool
		lacks      string
		want       verdict
		wantReason string
	}{
		{name: "root", euid: 0, want: run},
		{name: "root under CI", euid: 0, ci: "true", want: run},
		{name: "user", euid: 1000, want: skip, wantReason: "needs root"},
		{name: "user, CI=false", euid: 1000, ci: "false", want: skip, wantReason: "needs root"},
		{name: "user, CI=garbage", euid: 1000, ci: "yes please", want: skip, wantReason: "needs root"},
		{name: "user under CI", euid: 1000, ci: "true", want: fail, wantReason: "euid is 1000"},
		{name: "user under CI=1", euid: 1000, ci: "1", want: fail, wantReason: "sudo make test"},
		{name: "root, kernel lacks", euid: 0, lacks: lacks, want: skip, wantReason: lacks},
		{name: "root, kernel lacks, CI", euid: 0, ci: "true", lacks: lacks, want: fail, wantReason: lacks},
		{name: "short as root", euid: 0, short: true, want: skip, wantReason: "-short"},
		{name: "short wins over CI", euid: 1000, ci: "true", short: true, want: skip, wantReason: "-short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := decide(tt.euid, tt.ci, tt.short, tt.lacks)
			if got != tt.want {
				t.Errorf("verdict = %v, want %v", got, tt.want)
			}
			if !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", reason, tt.wantReason)
			}
			if got == run && reason != "" {
				t.Errorf("run with reason %q", reason)
			}
		})
	}
}
