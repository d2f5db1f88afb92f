package trace

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gadgetkit/gadget/framework/gadget"
	"github.com/gadgetkit/gadget/framework/registry"
)

// TestCompanion: a gadget that Uses dns-names gets a companion instance of
// the gadget that Provides them, on the same targets, sharing one name
// table; the companion's batches do not reach the trace, and it stops
// after the trace's own instance.
func TestCompanion(t *testing.T) {
	user, provider := &fakeGadget{}, &fakeGadget{relabel: true}
	userInfo, providerInfo := user.info(), provider.info()
	userInfo.Uses = []gadget.Capability{gadget.CapabilityDNSNames}
	providerInfo.Name, providerInfo.Provides = "provider", []gadget.Capability{gadget.CapabilityDNSNames}
	reg := &registry.Registry{}
	for _, info := range []*gadget.Info{userInfo, providerInfo} {
		if err := reg.Register(info); err != nil {
			t.Fatal(err)
		}
	}
	if got := reg.Providers(gadget.CapabilityDNSNames); len(got) != 1 || got[0].Name != "provider" {
		t.Fatalf("Providers = %v, want provider", got)
	}
	var b batches
	tr, err := New(reg, Config{Gadget: "fake", Node: "node1", Emit: b.emit, Parameters: map[string]string{"dns-names": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tr.AddTarget(ctx, target("a")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.AddTarget(ctx, target("b")); err != nil {
		t.Fatal(err)
	}
	if err := tr.RemoveTarget(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	u, p := user.Instances(), provider.Instances()
	if len(u) != 1 || len(p) != 1 {
		t.Fatalf("%d and %d instances, want one of each", len(u), len(p))
	}
	names := p[0].cfg.Names
	if names == nil || u[0].cfg.Names != names {
		t.Fatal("the instances do not share one name table")
	}
	now := time.Now()
	names.Observe("b", "web.test", netip.MustParseAddr("10.0.0.2"), time.Second, now)
	if name, stale, ok := u[0].cfg.Names.Lookup("b", netip.MustParseAddr("10.0.0.2"), now); !ok || stale || name != "web.test" {
		t.Errorf("Lookup = %q, %v, %v", name, stale, ok)
	}

	if err := tr.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"start", "add a", "add b", "remove a", "stop"}
	if got := p[0].Calls(); !slices.Equal(got, want) {
		t.Errorf("companion calls %q, want %q", got, want)
	}
	if got := b.Got(); !slices.Equal(got, []string{"start", "add a", "add b", "remove a", "stop"}) {
		t.Errorf("trace batches %q: the companion's leaked in, or the instance's are missing", got)
	}
	if !u[0].stopped || !p[0].stopped {
		t.Error("not both stopped")
	}

	// Without a provider, the gadget runs without names.
	reg2 := &registry.Registry{}
	alone := &fakeGadget{}
	aloneInfo := alone.info()
	aloneInfo.Uses = []gadget.Capability{gadget.CapabilityDNSNames}
	if err := reg2.Register(aloneInfo); err != nil {
		t.Fatal(err)
	}
	tr2, err := New(reg2, Config{Gadget: "fake", Emit: func(any) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if alone.Instances()[0].cfg.Names != nil {
		t.Error("Names set without a provider")
	}
	if err := tr2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSplitParameters: a capability the gadget Uses is off unless the
// trace's parameter of that name says true; the gadget never sees the
// parameter, and one the gadget does not Use stays the gadget's.
func TestSplitParameters(t *testing.T) {
	uses := &gadget.Info{Name: "user", Uses: []gadget.Capability{gadget.CapabilityDNSNames}}
	for _, tc := range []struct {
		info    *gadget.Info
		params  map[string]string
		want    bool
		wantOwn map[string]string
		wantErr string
	}{
		{info: uses, params: map[string]string{"interval": "1s"}, wantOwn: map[string]string{"interval": "1s"}},
		{info: uses, params: map[string]string{"dns-names": "true", "interval": "1s"}, want: true, wantOwn: map[string]string{"interval": "1s"}},
		{info: uses, params: map[string]string{"dns-names": "false"}, wantOwn: map[string]string{}},
		{info: uses, params: map[string]string{"dns-names": "yes please"}, wantErr: `parameter dns-names="yes please": use true or false`},
		{info: &gadget.Info{Name: "other"}, params: map[string]string{"dns-names": "true"}, wantOwn: map[string]string{"dns-names": "true"}},
	} {
		own, on, err := splitParameters(tc.info, tc.params)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s %v: error %v, want %q", tc.info.Name, tc.params, err, tc.wantErr)
			}
			continue
		}
		if err != nil || on[gadget.CapabilityDNSNames] != tc.want || !maps.Equal(own, tc.wantOwn) {
			t.Errorf("%s %v: %v, %v, %v; want %v, %v", tc.info.Name, tc.params, own, on, err, tc.wantOwn, tc.want)
		}
	}
}

// TestCheckParameters: the CLI's early check sees the parameters as Start
// does: the framework's own are checked and removed before the gadget's New.
func TestCheckParameters(t *testing.T) {
	info := &gadget.Info{
		Name: "user",
		Uses: []gadget.Capability{gadget.CapabilityDNSNames},
		New: func(cfg gadget.Config) (gadget.Instance, error) {
			for k := range cfg.Parameters {
				if k != "interval" {
					return nil, fmt.Errorf("parameter %q: unknown", k)
				}
			}
			return nil, nil
		},
	}
	for _, tc := range []struct {
		params  map[string]string
		wantErr string
	}{
		{params: map[string]string{"interval": "1s", "dns-names": "true"}},
		{params: map[string]string{"dns-names": "sometimes"}, wantErr: `parameter dns-names="sometimes": use true or false`},
		{params: map[string]string{"max": "1"}, wantErr: `parameter "max": unknown`},
	} {
		err := CheckParameters(info, tc.params)
		if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
			t.Errorf("%v: %v, want %q", tc.params, err, tc.wantErr)
		}
	}
	// Without the capability in Uses, the parameter is the gadget's to judge.
	info.Uses = nil
	if err := CheckParameters(info, map[string]string{"dns-names": "true"}); err == nil {
		t.Error("dns-names passed to a gadget that does not use dns names")
	}
	params := map[string]string{"dns-names": "true"}
	info.Uses = []gadget.Capability{gadget.CapabilityDNSNames}
	if err := CheckParameters(info, params); err != nil || params["dns-names"] != "true" {
		t.Errorf("CheckParameters changed its argument or failed: %v, %v", params, err)
	}
}

// TestKernelMemory: a trace's estimate is its gadget's, plus its
// companion's when the parameters turn the capability on.
func TestKernelMemory(t *testing.T) {
	user, provider := &fakeGadget{}, &fakeGadget{}
	userInfo, providerInfo := user.info(), provider.info()
	userInfo.Uses = []gadget.Capability{gadget.CapabilityDNSNames}
	userInfo.KernelMemory = func(params map[string]string) (uint64, error) {
		if _, ok := params["dns-names"]; ok {
			return 0, fmt.Errorf("the gadget got the framework's parameter dns-names")
		}
		if params["bad"] != "" {
			return 0, fmt.Errorf("parameter bad: no")
		}
		return 1000, nil
	}
	providerInfo.Name, providerInfo.Provides = "provider", []gadget.Capability{gadget.CapabilityDNSNames}
	providerInfo.KernelMemory = func(map[string]string) (uint64, error) { return 24, nil }
	reg := &registry.Registry{}
	for _, info := range []*gadget.Info{userInfo, providerInfo} {
		if err := reg.Register(info); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		params  map[string]string
		want    uint64
		wantErr bool
	}{
		{nil, 1000, false},
		{map[string]string{"dns-names": "false"}, 1000, false},
		{map[string]string{"dns-names": "true"}, 1024, false},
		{map[string]string{"dns-names": "maybe"}, 0, true},
		{map[string]string{"bad": "x"}, 0, true},
	}
	for _, tt := range tests {
		got, err := KernelMemory(reg, userInfo, tt.params)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("KernelMemory(%v) = %d, %v; want %d, error %v", tt.params, got, err, tt.want, tt.wantErr)
		}
	}
	if got, err := KernelMemory(reg, providerInfo, nil); got != 24 || err != nil {
		t.Errorf("provider alone: %d, %v; want 24", got, err)
	}
}
