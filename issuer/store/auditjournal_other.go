//go:build !linux

package store

import "os"

// fdatasync falls back to a full sync where fdatasync(2) is missing.
func fdatasync(f *os.File) error { return f.Sync() }
