package keydir

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/openlegant/legant/authority"
)

// DefaultWatchInterval is how often Watch reads keys.json.
const DefaultWatchInterval = time.Second

// Change is what Watch saw change in a key directory.
type Change struct {
	Added   []Entry // keys now in the key set (the new current key among them)
	Retired []Entry // keys whose retire time has passed, or that left keys.json
	Err     error   // the directory could not be read; the key set is unchanged
}

// WatchOptions tune Watch; zero fields mean the defaults.
type WatchOptions struct {
	Interval time.Duration    // zero = DefaultWatchInterval
	Now      func() time.Time // nil = time.Now
	// OnChange is called, from Watch's goroutine, after each change applied
	// to the key set and for each failed read (once per distinct failure).
	OnChange func(Change)
}

// Watch keeps ks, loaded from dir, in step with it until ctx ends: a
// rotation by another process (legant keys rotate) is picked up within one
// interval. New keys are added (the current one last, so that it signs),
// retire times are applied, and keys no longer listed stop verifying at
// once. A directory that cannot be read leaves ks as it was.
func Watch(ctx context.Context, dir string, ks *authority.KeySet, opts WatchOptions) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultWatchInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	w := &watcher{dir: dir, ks: ks, opts: opts, known: map[string]Entry{}, retired: map[string]bool{}}
	// The first tick applies the directory as it is now, so that a rotation
	// between the caller's Load and this call is not missed; keys ks already
	// holds are not reported as added.
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		w.tick()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watcher is the state of one Watch; used by its goroutine only.
type watcher struct {
	dir     string
	ks      *authority.KeySet
	opts    WatchOptions
	last    []byte           // keys.json as last applied
	known   map[string]Entry // kid → entry as last applied
	retired map[string]bool  // kid → its retirement was reported
	lastErr string
}

func (w *watcher) tick() {
	var ch Change
	data, err := os.ReadFile(filepath.Join(w.dir, listFile))
	if err == nil && !bytes.Equal(data, w.last) {
		ch.Added, ch.Retired, err = w.apply()
		if err == nil {
			w.last = data
		}
	}
	if err != nil {
		if err.Error() != w.lastErr {
			w.lastErr = err.Error()
			w.report(Change{Err: err})
		}
		return
	}
	w.lastErr = ""
	now := w.opts.Now()
	for kid, e := range w.known {
		if !w.retired[kid] && !e.RetireAt.IsZero() && !now.Before(e.RetireAt) {
			w.retired[kid] = true
			ch.Retired = append(ch.Retired, e)
		}
	}
	if len(ch.Added) > 0 || len(ch.Retired) > 0 {
		w.report(ch)
	}
}

// apply loads keys.json into the key set; it returns the keys added and
// those that left the list.
func (w *watcher) apply() (added, gone []Entry, err error) {
	entries, err := List(w.dir)
	if err != nil {
		return nil, nil, err
	}
	keys := make([]*authority.Key, len(entries))
	for i, e := range entries {
		if old, ok := w.known[e.KID]; ok && old.Current == e.Current {
			continue // already in the set; only its retire time may have changed
		}
		if keys[i], err = readKey(w.dir, e); err != nil {
			return nil, nil, err
		}
	}
	now := w.opts.Now()
	listed := map[string]bool{}
	var current *authority.Key
	for i, e := range entries {
		listed[e.KID] = true
		_, inSet := w.ks.Lookup(e.KID, now)
		retired := !e.RetireAt.IsZero() && !now.Before(e.RetireAt)
		switch {
		case e.Current && keys[i] != nil:
			current = keys[i]
		case keys[i] != nil:
			w.ks.Add(keys[i], e.RetireAt)
		case !e.Current:
			w.ks.Retire(e.KID, e.RetireAt)
		}
		if _, ok := w.known[e.KID]; !ok {
			if !inSet && !retired {
				added = append(added, e)
			}
			w.retired[e.KID] = retired
		}
		w.known[e.KID] = e
	}
	if current != nil {
		w.ks.Add(current, time.Time{})
	}
	for kid, e := range w.known {
		if !listed[kid] {
			w.ks.Retire(kid, now)
			delete(w.known, kid)
			if !w.retired[kid] {
				gone = append(gone, e)
			}
			delete(w.retired, kid)
		}
	}
	return added, gone, nil
}

func (w *watcher) report(ch Change) {
	if w.opts.OnChange != nil {
		w.opts.OnChange(ch)
	}
}

// Prune removes the keys whose retire time has passed, with their files, and
// returns them.
func Prune(dir string, opts *Options) ([]Entry, error) {
	entries, err := List(dir)
	if err != nil {
		return nil, err
	}
	now := opts.now()
	var kept, pruned []Entry
	for _, e := range entries {
		if e.RetireAt.IsZero() || now.Before(e.RetireAt) {
			kept = append(kept, e)
			continue
		}
		pruned = append(pruned, e)
	}
	if len(pruned) == 0 {
		return nil, nil
	}
	if err := writeList(dir, kept); err != nil {
		return nil, err
	}
	for _, e := range pruned {
		if err := os.Remove(keyPath(dir, e.KID)); err != nil && !os.IsNotExist(err) {
			return pruned, err
		}
	}
	return pruned, nil
}
