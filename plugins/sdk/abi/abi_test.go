package abi

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"dot", true},
		{"port-names", true},
		{"c-example", true},
		{"v2", true},
		{"a1-b2-c3", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"Bad Name/../x", false},
		{"Dot", false},
		{"graph.ml", false},
		{"a/b", false},
		{"-dot", false},
		{"dot-", false},
		{"do--t", false},
		{"2dot", false},
		{"dot_ml", false},
		{"dôt", false},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, does not wrap ErrBadName", tt.name, err)
		}
	}
}
