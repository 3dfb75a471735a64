package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAIOWriter: frames written through the AIO writer are in the file when
// writeAt returns, at their offsets; a descriptor the kernel refuses to
// write through is refused at submission, before anything is written
// (errAIOUnavailable: the journal falls back to pwrite); a request that
// fails once queued (O_DIRECT from unaligned memory) is reported as the
// write's error.
func TestAIOWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 8*journalBlock), 0); err != nil {
		t.Fatal(err)
	}
	w := openDirect(path, f) // O_DIRECT|O_DSYNC where the file system takes it
	direct := w != nil
	if !direct {
		t.Logf("the file system of %s refuses O_DIRECT: AIO through an O_DSYNC descriptor", path)
		if w, err = os.OpenFile(path, os.O_RDWR|syscall.O_DSYNC, 0); err != nil {
			t.Fatal(err)
		}
	}
	defer w.Close()
	a := newAIOWriter(w)
	if a == nil {
		t.Fatal("no AIO context: the kernel refused io_setup or eventfd")
	}
	defer a.close()

	frames := [][]byte{alignedBlocks(journalBlock), alignedBlocks(2 * journalBlock)}
	copy(frames[0], "first frame")
	copy(frames[1][journalBlock:], "second frame, its second block")
	offs := []int64{journalBlock, 4 * journalBlock}
	if err := a.writeAt(frames, offs); err != nil {
		t.Fatal(err)
	}
	for i, frame := range frames {
		got := make([]byte, len(frame))
		if _, err := f.ReadAt(got, offs[i]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, frame) {
			t.Fatalf("frame %d is not in the file at %d", i, offs[i])
		}
	}

	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	refused := newAIOWriter(ro)
	defer refused.close()
	if err := refused.writeAt(frames[:1], offs[:1]); !errors.Is(err, errAIOUnavailable) {
		t.Fatalf("a write through a read-only descriptor: %v, want errAIOUnavailable", err)
	}

	if direct {
		unaligned := alignedBlocks(2 * journalBlock)[1 : 1+journalBlock]
		err := a.writeAt([][]byte{unaligned}, []int64{journalBlock})
		if err == nil || errors.Is(err, errAIOUnavailable) {
			t.Fatalf("an O_DIRECT write from unaligned memory: %v, want the request's error", err)
		}
		t.Logf("unaligned O_DIRECT write: %v", err)
	}
}
