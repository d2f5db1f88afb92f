package docgen

import "testing"

func TestFence(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"plain", "type T struct {\n\tA int `json:\"a\"`\n}\n", "```"},
		{"empty", "", "```"},
		{"fence in text", "Package p.\n\n```\ncode\n```\n", "````"},
		{"indented fence", "  `````go\n", "``````"},
		{"short run", "``x\n", "```"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fence([]byte(tc.text)); got != tc.want {
				t.Errorf("fence() = %q, want %q", got, tc.want)
			}
		})
	}
}
