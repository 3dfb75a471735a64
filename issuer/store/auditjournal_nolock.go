//go:build !unix

package store

import "os"

// lockFile reports false where flock is missing: such a Store appends to the
// database directly, without a journal.
func lockFile(*os.File) (bool, error) { return false, nil }
