//go:build !linux

package bench

import "os"

func fdatasync(f *os.File) error { return f.Sync() }

// Elsewhere the probe does not look at the device.
func blockDevice(string) (string, bool)              { return "", false }
func deviceFlushes(string) (flushes uint64, ok bool) { return 0, false }
func describeDevice(string) *BlockDevice             { return nil }
