package version

import "testing"

func TestFromModule(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", Dev},
		{"(devel)", Dev},
		{"v0.3.1", "v0.3.1"},
		{"v0.0.0-20261204162601-618e0891a2b3", "v0.0.0-20261204162601-618e0891a2b3"},
		{"v0.0.0-20261204162601-618e0891a2b3+dirty", Dev}, // '+' cannot be in a tag
	} {
		if got := fromModule(tc.in); got != tc.want {
			t.Errorf("fromModule(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestImage(t *testing.T) {
	defer func(v, r string) { Version, ImageRepo = v, r }(Version, ImageRepo)
	Version, ImageRepo = "v1.2.3-4-gabcdef0", "registry.example/gadget/gadgetd"
	img, ok := Image()
	if !ok || img != "registry.example/gadget/gadgetd:v1.2.3-4-gabcdef0" {
		t.Errorf("Image() = %q, %v", img, ok)
	}
	Version = ""
	// go test builds the package unstamped, inside the repository.
	if v := Get(); v != Dev {
		t.Errorf("Get() of an unstamped test binary = %q, want %q", v, Dev)
	}
	if img, ok := Image(); ok {
		t.Errorf("Image() of a dev build = %q, want none", img)
	}
}

func TestValidTag(t *testing.T) {
	for s, want := range map[string]bool{
		"v0.0.0-12-g618e089":       true,
		"v0.0.0-12-g618e089-dirty": true,
		"latest":                   true,
		"-x":                       false,
		"a+b":                      false,
		"":                         false,
	} {
		if got := ValidTag(s); got != want {
			t.Errorf("ValidTag(%q) = %v, want %v", s, got, want)
		}
	}
}
