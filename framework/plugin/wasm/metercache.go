package wasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"github.com/gadgetkit/gadget/framework/plugin/wasm/internal/meter"
)

// meteredDir is the folder of Options.CacheDir that keeps instrumented
// modules.
const meteredDir = "metered"

// meteredMagic starts a file of instrumented code: the format, then the
// CRC-32C of the code that follows (little endian), which catches a
// damaged file at a fraction of a SHA-256's cost (a cache file is trusted
// like wazero's compilation cache beside it, which checks its code the
// same way).
var meteredMagic = []byte("gadget-metered-1\n")

// crc32c is the table of the Castagnoli polynomial, computed in hardware
// on amd64 and arm64.
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// meterCache keeps the modules the fuel meter rewrote on disk, so that a
// run loads a module instead of rewriting it (the rewrite of a 3.5 MB Go
// guest takes 40–280 ms on a busy 2-core machine, reading it back a few
// ms). A file is named by the SHA-256 of the original module, the meter's
// version and the fuel, holds the rewritten module after a header with
// its checksum, and is written to a temporary file renamed into place,
// so a reader never sees half a file. A file whose header or checksum is
// wrong (truncated, corrupted, another format) is ignored and rewritten.
// The zero value (no directory) keeps nothing.
type meterCache struct{ dir string }

// path is the file of the module whose SHA-256 is sum.
func (c meterCache) path(sum [sha256.Size]byte) string {
	return filepath.Join(c.dir, fmt.Sprintf("%s-m%d-f%d.wasm", hex.EncodeToString(sum[:]), meter.Version, fuel))
}

// instrument returns the module of code with the fuel meter, from the
// cache when it holds a valid copy; it stores a new one on a best-effort
// basis (a failure to write only costs the next run the rewrite).
func (c meterCache) instrument(code []byte, sum [sha256.Size]byte) ([]byte, error) {
	if c.dir == "" {
		return meter.Instrument(code, fuel)
	}
	path := c.path(sum)
	if b, err := os.ReadFile(path); err == nil {
		if out, ok := unpackMetered(b); ok {
			return out, nil
		}
	}
	out, err := meter.Instrument(code, fuel)
	if err != nil {
		return nil, err
	}
	_ = c.store(path, out)
	return out, nil
}

// store writes out to path atomically, readable by the user only.
func (c meterCache) store(path string, out []byte) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	head := binary.LittleEndian.AppendUint32(bytes.Clone(meteredMagic), crc32.Checksum(out, crc32c))
	_, err = f.Write(append(head, out...))
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// unpackMetered returns the module of a cache file, if its header and
// checksum hold.
func unpackMetered(b []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(b, meteredMagic)
	if !ok || len(rest) < 4 {
		return nil, false
	}
	out := rest[4:]
	if crc32.Checksum(out, crc32c) != binary.LittleEndian.Uint32(rest) {
		return nil, false
	}
	return out, true
}
