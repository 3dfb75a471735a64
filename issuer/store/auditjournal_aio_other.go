//go:build !linux

package store

import (
	"errors"
	"os"
)

// journalAIO: AIO appends are Linux-only (auditjournal_aio_linux.go).
var journalAIO = false

var errAIOUnavailable = errors.New("store: audit journal: no AIO here")

type aioWriter struct{}

func newAIOWriter(*os.File) *aioWriter { return nil }

func (*aioWriter) writeAt([][]byte, []int64) error { return errAIOUnavailable }

func (*aioWriter) close() {}
