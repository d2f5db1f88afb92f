package controller

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultMaxCheckpoint bounds the checkpoint of one trace in bytes unless
// Options.MaxCheckpoint says otherwise.
const DefaultMaxCheckpoint = 16 << 20

// checkpointSuffix ends the name of every checkpoint file; the rest of
// the name is the trace's UID.
const checkpointSuffix = ".checkpoint"

// checkpointHeader is the first line of a checkpoint file.
type checkpointHeader struct {
	// Trace is namespace/name, for people reading the folder.
	Trace string `json:"trace"`
	// UID is the trace's; a checkpoint is restored only into the same one.
	UID types.UID `json:"uid"`
	// Gadget and Format say which Output wrote the data.
	Gadget string `json:"gadget"`
	Format string `json:"format"`
	// Time is when the checkpoint was taken.
	Time time.Time `json:"time"`
}

// checkpoints is the folder of the checkpoint files, one per trace in the
// Status output mode that runs: the trace's output so far, so that an
// agent that restarts (after a crash too) resumes with what was recorded.
// The zero value (no folder) keeps none.
type checkpoints struct {
	dir string
	max int
}

func (c checkpoints) enabled() bool { return c.dir != "" }

func (c checkpoints) path(uid types.UID) string {
	return filepath.Join(c.dir, string(uid)+checkpointSuffix)
}

// save writes h and the data write produces to the file of h.UID, through
// a temporary file renamed over it, so that a crash of the agent leaves
// the previous checkpoint or the new one, never half of one. It does not
// fsync (the caller holds the trace's lock): a crash of the whole node may
// leave a file that load reports as unreadable. Data larger than the
// bound is not written (the previous checkpoint stays): the error says so.
func (c checkpoints) save(h checkpointHeader, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(h); err != nil {
		return fmt.Errorf("encode the checkpoint header: %w", err)
	}
	if err := write(&buf); err != nil {
		return err
	}
	if buf.Len() > c.max {
		return fmt.Errorf("checkpoint of %d bytes exceeds the bound of %d bytes: the previous checkpoint stays", buf.Len(), c.max)
	}
	f, err := os.CreateTemp(c.dir, ".tmp-"+string(h.UID)+"-*")
	if err != nil {
		return fmt.Errorf("create the checkpoint file: %w", err)
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path(h.UID))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write the checkpoint %s: %w", c.path(h.UID), err)
	}
	return nil
}

// load opens the checkpoint of uid and returns its header and a reader of
// its data, which the caller closes. ok is false when there is none.
func (c checkpoints) load(uid types.UID) (h checkpointHeader, data io.ReadCloser, ok bool, err error) {
	f, err := os.Open(c.path(uid))
	if errors.Is(err, os.ErrNotExist) {
		return h, nil, false, nil
	}
	if err != nil {
		return h, nil, false, fmt.Errorf("open the checkpoint: %w", err)
	}
	br := bufio.NewReader(f)
	line, err := br.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &h)
	}
	if err == nil && h.UID != uid {
		err = fmt.Errorf("it belongs to trace UID %s", h.UID)
	}
	if err != nil {
		f.Close()
		return h, nil, false, fmt.Errorf("checkpoint %s: bad header: %w", f.Name(), err)
	}
	return h, struct {
		io.Reader
		io.Closer
	}{br, f}, true, nil
}

// remove deletes the checkpoint of uid, if any.
func (c checkpoints) remove(uid types.UID) error {
	if !c.enabled() {
		return nil
	}
	if err := os.Remove(c.path(uid)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove the checkpoint: %w", err)
	}
	return nil
}

// prune removes the checkpoint files (and temporary files) last written
// before before of every trace whose UID keep does not hold: traces
// deleted while no agent ran.
func (c checkpoints) prune(keep map[types.UID]bool, before time.Time) (removed []string, err error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("read the checkpoint folder: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		uid, isCkpt := strings.CutSuffix(name, checkpointSuffix)
		if !strings.HasPrefix(name, ".tmp-") && (!isCkpt || keep[types.UID(uid)]) {
			continue
		}
		if fi, err := e.Info(); err != nil || !fi.ModTime().Before(before) {
			continue // written by this agent meanwhile, or gone
		}
		if err := os.Remove(filepath.Join(c.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}
