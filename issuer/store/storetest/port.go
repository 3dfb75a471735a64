package storetest

import (
	"testing"

	"github.com/openlegant/legant/issuer/store/storetest/freeport"
)

// FreePort returns a loopback TCP port that was free a moment ago, from
// below the kernel's ephemeral range where it can tell (freeport.Addr says
// why), for a process a test starts and must tell its port.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
