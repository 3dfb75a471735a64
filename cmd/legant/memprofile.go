package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/pflag"
)

// registerMemProfile adds the hidden --memprofile flag to fs: on every
// SIGUSR1 the command writes a heap profile (after a garbage collection) to
// that file, replacing it, and beside it (FILE.json, written first) the
// runtime's memory figures of that moment (MemStats): what the profile does
// not show, goroutine stacks above all. `legant bench --profile-dir` has the
// idle-session children write them before and with their sessions open, to
// see what each costs. It
// returns start, which installs the handler when the flag is set and
// returns the func that removes it.
func registerMemProfile(fs *pflag.FlagSet) (start func() (stop func())) {
	path := fs.String("memprofile", "", "on SIGUSR1, write a heap profile to this file")
	_ = fs.MarkHidden("memprofile")
	return func() func() {
		if *path == "" {
			return func() {}
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-sig:
					if err := writeHeapProfile(*path); err != nil {
						fmt.Fprintln(os.Stderr, "memprofile:", err)
					}
				case <-done:
					return
				}
			}
		}()
		return func() { signal.Stop(sig); close(done) }
	}
}

// writeHeapProfile writes the heap profile to path through a temporary file
// renamed into place, so a reader never sees half of one.
func writeHeapProfile(path string) error {
	runtime.GC()
	if err := writeMemStats(path + ".json"); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".memprofile-*")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeMemStats writes the runtime's memory figures to path as JSON
// (bench.RuntimeMem's fields), through a temporary file renamed into place.
func writeMemStats(path string) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := json.Marshal(map[string]uint64{"Goroutines": uint64(runtime.NumGoroutine()), "HeapAlloc": ms.HeapAlloc,
		"HeapInuse": ms.HeapInuse, "StackInuse": ms.StackInuse, "Sys": ms.Sys})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
