package upstreams

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

const (
	regV1  = "version: 1\nupstreams:\n  - slug: a\n    url: http://h/a\n    tools:\n      t: {scope: s}\n"
	regV2  = "version: 1\nupstreams:\n  - slug: b\n    url: http://h/b\n    tools:\n      t: {scope: s}\n"
	regV3  = "version: 1\nupstreams:\n  - slug: c\n    url: http://h/c\n    tools:\n      t: {scope: s}\n"
	regBad = "version: 1\nupstreams:\n  - slug: a\n    url: http://h/a\n    tools:\n      t: {scope: s, amount: x}\n"
)

// change is one onChange call.
type change struct {
	reg *Registry
	err error
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func slugs(r *Registry) []string {
	var out []string
	for _, u := range r.Upstreams() {
		out = append(out, u.Slug)
	}
	return out
}

func newTestWatcher(t *testing.T, initial string) (*Watcher, string, *[]change) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "legant.yaml")
	writeFile(t, path, initial)
	var changes []change
	w, err := NewWatcher(path, Options{PublicURL: "https://gw.example"}, func(r *Registry, err error) {
		changes = append(changes, change{r, err})
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, path, &changes
}

func TestWatcherReload(t *testing.T) {
	w, path, changes := newTestWatcher(t, regV1)
	first := w.Current()
	if got := slugs(first); len(got) != 1 || got[0] != "a" {
		t.Fatalf("initial registry = %v", got)
	}

	// A valid change swaps the snapshot; the old one is untouched.
	writeFile(t, path, regV2)
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := slugs(w.Current()); got[0] != "b" || len(*changes) != 1 || (*changes)[0].reg != w.Current() {
		t.Fatalf("after a valid change: current %v, changes %v", got, *changes)
	}
	if _, ok := first.Lookup("a"); !ok {
		t.Error("the old snapshot changed")
	}

	// An invalid file keeps the snapshot in force and reports the problem.
	second := w.Current()
	writeFile(t, path, regBad)
	err := w.Reload()
	var verrs ValidationErrors
	if !errors.As(err, &verrs) || w.Current() != second {
		t.Fatalf("invalid file: err %v, current changed: %v", err, w.Current() != second)
	}
	if c := (*changes)[1]; c.reg != nil || !errors.As(c.err, &verrs) {
		t.Errorf("onChange for an invalid file = %+v", c)
	}

	// A missing file too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); !errors.Is(err, os.ErrNotExist) || w.Current() != second {
		t.Errorf("missing file: err %v", err)
	}
}

func TestNewWatcherRefusesAnInvalidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "legant.yaml")
	writeFile(t, path, regBad)
	if _, err := NewWatcher(path, Options{}, nil); err == nil {
		t.Error("NewWatcher accepted an invalid registry")
	}
	if _, err := NewWatcher(filepath.Join(t.TempDir(), "none.yaml"), Options{}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestWatcherCheck drives the polling path (what Run does on each tick)
// directly: unchanged and touched files do nothing, a problem is reported
// once, and a fix is picked up.
func TestWatcherCheck(t *testing.T) {
	w, path, changes := newTestWatcher(t, regV1)
	w.check(false)
	now := time.Now()
	if err := os.Chtimes(path, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.check(false) // touched, same content
	if len(*changes) != 0 {
		t.Fatalf("unchanged file reported: %v", *changes)
	}
	writeFile(t, path, regBad)
	w.check(false)
	w.check(false)
	if len(*changes) != 1 || (*changes)[0].err == nil {
		t.Fatalf("invalid file: changes %v, want one error", *changes)
	}
	writeFile(t, path, regV1) // back to the content in force
	w.check(false)
	if len(*changes) != 2 || (*changes)[1].err != nil || slugs((*changes)[1].reg)[0] != "a" {
		t.Fatalf("fixed file: changes %v", *changes)
	}

	// A same-size rewrite within one tick of the file clock keeps size and
	// mtime: the content hash still catches it.
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, regV2) // the same size as regV1
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	w.check(false)
	if len(*changes) != 3 || (*changes)[2].err != nil || slugs(w.Current())[0] != "b" {
		t.Fatalf("same-size rewrite with the same mtime: changes %v", *changes)
	}
}

// TestWatcherRun runs the poll loop in a synctest bubble: the ticker runs on
// the bubble's fake clock, and onChange is the synchronization point.
func TestWatcherRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "legant.yaml")
		writeFile(t, path, regV1)
		changed := make(chan change)
		w, err := NewWatcher(path, Options{PollInterval: 10 * time.Millisecond}, func(r *Registry, err error) {
			changed <- change{r, err}
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			w.Run(ctx)
			close(done)
		}()
		for _, step := range []struct {
			data    string
			wantErr bool
			want    string
		}{{regV2, false, "b"}, {regBad, true, "b"}, {regV3, false, "c"}} {
			writeFile(t, path, step.data)
			var c change
			select {
			case c = <-changed:
			case <-time.After(time.Hour): // fake time: fails a stuck watcher at once
				t.Fatalf("no onChange after writing %q", step.want)
			}
			if (c.err != nil) != step.wantErr || slugs(w.Current())[0] != step.want {
				t.Fatalf("after writing: change %+v, current %v", c, slugs(w.Current()))
			}
		}
		cancel()
		<-done
	})
}
