package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestAddrBelowEphemeralRange: the address is on loopback, free to
// listen on, and (where the kernel tells its ephemeral range) below it, so
// no outgoing connection can be handed its port before the child binds it.
func TestAddrBelowEphemeralRange(t *testing.T) {
	lo, known := EphemeralLow()
	seen := map[string]bool{}
	for range 20 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr = %q, %v; want a 127.0.0.1 address", addr, err)
		}
		n, _ := strconv.Atoi(port)
		if known && (n < Min || n >= lo) {
			t.Errorf("port %d, want in [%d, %d): below the ephemeral range", n, Min, lo)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on the reserved %s: %v", addr, err)
		}
		ln.Close()
		seen[addr] = true
	}
	if len(seen) < 10 { // random, not one port over and over
		t.Errorf("20 reservations gave %d distinct ports", len(seen))
	}
}
