package wasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/gadgetkit/gadget/framework/plugin/wasm/internal/meter"
)

// TestMeterCache checks that the meter's output is kept on disk, read
// back instead of redone, and that a damaged file is ignored and
// rewritten.
func TestMeterCache(t *testing.T) {
	code := []byte("\x00asm\x01\x00\x00\x00") // the smallest module
	want, err := meter.Instrument(code, fuel)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(code)
	c := meterCache{dir: filepath.Join(t.TempDir(), meteredDir)}
	path := c.path(sum)
	check := func(step string) {
		t.Helper()
		got, err := c.instrument(code, sum)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: instrument = %d bytes, %v; want the meter's %d bytes", step, len(got), err, len(want))
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if out, ok := unpackMetered(b); !ok || !bytes.Equal(out, want) {
			t.Fatalf("%s: the cache file does not hold the instrumented module", step)
		}
	}
	check("first use")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, %v; want -rw-------", fi.Mode(), err)
	}
	if fi, err := os.Stat(c.dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache folder mode %v, %v; want drwx------", fi.Mode(), err)
	}

	// A file the cache did not write: what it holds is what is used.
	marked := append(bytes.Clone(want), 0, 0)
	writeFile := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sumOf := func(b []byte) []byte { return binary.LittleEndian.AppendUint32(nil, crc32.Checksum(b, crc32c)) }
	writeFile(append(append(bytes.Clone(meteredMagic), sumOf(marked)...), marked...))
	if got, _ := c.instrument(code, sum); !bytes.Equal(got, marked) {
		t.Fatal("a valid cache file was not used: the module was instrumented again")
	}

	for name, damaged := range map[string][]byte{
		"empty":          {},
		"truncated":      append(append(bytes.Clone(meteredMagic), sumOf(want)...), want[:len(want)/2]...),
		"a flipped byte": append(append(bytes.Clone(meteredMagic), sumOf(want)...), append(bytes.Clone(want[:9]), want[9]^1)...),
		"no header":      want,
		"another format": append([]byte("gadget-metered-0\n"), append(sumOf(want), want...)...),
	} {
		writeFile(damaged)
		check(name)
	}
	if left, _ := filepath.Glob(filepath.Join(c.dir, ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestMeterCacheUnwritable checks that a cache folder that cannot be
// written costs the rewrite, never the plugin.
func TestMeterCacheUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code := []byte("\x00asm\x01\x00\x00\x00")             // the smallest module
	c := meterCache{dir: filepath.Join(file, meteredDir)} // under a file: no folder possible
	if _, err := c.instrument(code, sha256.Sum256(code)); err != nil {
		t.Fatalf("instrument with an unwritable cache: %v", err)
	}
}
