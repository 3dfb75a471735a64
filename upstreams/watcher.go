package upstreams

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Watcher keeps the current Registry of one file and reloads it when the
// file changes, by polling (no file-system notification dependency).
//
// Current is safe for concurrent use and never blocks: readers (the gateway,
// per request) load an immutable snapshot through an atomic pointer, so a
// reload never disturbs a session in flight. Run and Reload may be called
// concurrently; reloads are serialized, and onChange is called from the
// goroutine doing the reload, never concurrently with itself. onChange must
// not call Reload.
type Watcher struct {
	path     string
	opts     Options
	interval time.Duration
	onChange func(*Registry, error)
	current  atomic.Pointer[Registry]

	mu   sync.Mutex // guards seen; held for a whole reload, including onChange
	seen fileState
}

// fileState is what the last check saw: stat facts, when the file was read,
// and the content hash. A reload happens when the content hash differs from
// the last one seen.
type fileState struct {
	info    os.FileInfo // nil when the file could not be read
	readAt  time.Time
	sum     [sha256.Size]byte
	errText string // last problem reported, so that it is reported once
}

// racyMargin: file times are coarse (a kernel tick; 2s on FAT), so a write
// within that long after a read can leave size and mtime unchanged. A file
// whose mtime is that close to (or after) the last read is re-read and hashed
// (git's "racily clean" rule); an older one is skipped while its stat holds.
const racyMargin = 2 * time.Second

// unchanged reports whether info proves the file unchanged since st was read.
func (st fileState) unchanged(info os.FileInfo) bool {
	return st.info != nil && os.SameFile(st.info, info) && st.info.Size() == info.Size() &&
		st.info.ModTime().Equal(info.ModTime()) && info.ModTime().Before(st.readAt.Add(-racyMargin))
}

// NewWatcher loads the registry at path; it fails when the file is missing
// or invalid, since a gateway must not start without a registry. onChange
// may be nil. Call Run to start watching.
func NewWatcher(path string, opts Options, onChange func(*Registry, error)) (*Watcher, error) {
	if onChange == nil {
		onChange = func(*Registry, error) {}
	}
	w := &Watcher{path: path, opts: opts, interval: opts.PollInterval, onChange: onChange}
	if w.interval <= 0 {
		w.interval = DefaultPollInterval
	}
	readAt := time.Now()
	info, data, err := stat(path)
	if err != nil {
		return nil, err
	}
	reg, err := Parse(path, data, opts)
	if err != nil {
		return nil, err
	}
	w.current.Store(reg)
	w.seen = fileState{info: info, readAt: readAt, sum: sha256.Sum256(data)}
	return w, nil
}

// Current returns the registry in force. It is never nil.
func (w *Watcher) Current() *Registry { return w.current.Load() }

// Run checks the file every interval until ctx is done. On a valid change
// it swaps the snapshot and calls onChange(new, nil); on an invalid file it
// keeps the old snapshot and calls onChange(nil, err), once per distinct
// content.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(false)
		}
	}
}

// Reload reads and parses the file now, whether or not it looks changed,
// and swaps the snapshot when it is valid. It returns the problem, if any,
// after reporting it to onChange as Run would.
func (w *Watcher) Reload() error { return w.check(true) }

// check compares the file with what was last seen and reloads it when its
// content changed (or always, when force is set).
func (w *Watcher) check(force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	info, err := os.Stat(w.path)
	if err != nil {
		return w.failLocked(fileState{}, fmt.Errorf("upstreams: %w", err), force)
	}
	if !force && w.seen.unchanged(info) {
		return nil
	}
	readAt := time.Now()
	data, err := readFile(w.path)
	if err != nil {
		return w.failLocked(fileState{}, err, force)
	}
	st := fileState{info: info, readAt: readAt, sum: sha256.Sum256(data)}
	if !force && st.sum == w.seen.sum && w.seen.errText == "" {
		w.seen = st // touched, not changed
		return nil
	}
	reg, err := Parse(w.path, data, w.opts)
	if err != nil {
		return w.failLocked(st, err, force || st.sum != w.seen.sum)
	}
	w.current.Store(reg)
	w.seen = st
	w.onChange(reg, nil)
	return nil
}

// failLocked records a problem and reports it unless it was already reported.
func (w *Watcher) failLocked(st fileState, err error, report bool) error {
	st.errText = err.Error()
	if st.errText != w.seen.errText {
		report = true
	}
	w.seen = st
	if report {
		w.onChange(nil, err)
	}
	return err
}

// stat reads the file with its stat facts, taken before the read so that a
// write racing the read shows up as a change at the next check.
func stat(path string) (os.FileInfo, []byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("upstreams: %w", err)
	}
	data, err := readFile(path)
	return info, data, err
}
