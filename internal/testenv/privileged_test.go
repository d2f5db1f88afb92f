package testenv

import "testing"

func TestDecide(t *testing.T) {
	tests := []struct {
		euid int
		ci   string
		want verdict
	}{
		{0, "", run},
		{0, "true", run},
		{1000, "", skip},
		{1000, "false", skip},
		{1000, "true", fail},
	}
	for _, tt := range tests {
		if got, _ := decide(tt.euid, tt.ci); got != tt.want {
			t.Errorf("decide(%d, %q) = %v, want %v", tt.euid, tt.ci, got, tt.want)
		}
	}
}
