package store

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and only the metadata needed to read it back:
// none, since the ring's blocks are allocated when it is formatted).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
