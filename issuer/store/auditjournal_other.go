//go:build !linux

package store

import "os"

// fdatasync falls back to a full sync where fdatasync(2) is missing.
func fdatasync(f *os.File) error { return f.Sync() }

// openDirect: O_DIRECT appends are Linux-only here; the journal uses f and a
// full sync.
func openDirect(string, *os.File) *os.File { return nil }
