package bench

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// ReserveAddr returns a loopback address that was free a moment ago, for a
// process that must be told its address before it starts (a child gateway,
// a demo under test). The port is taken from below the kernel's ephemeral
// range where it can tell (Linux: net.ipv4.ip_local_port_range): a port from
// that range ("127.0.0.1:0") may be handed meanwhile to the local end of any
// outgoing connection, and the harness and the tests open thousands of
// them, so the child's listen could fail with "address already in use".
// Below the range only another listener can take it, and only by choosing
// the same random port.
func ReserveAddr() (string, error) {
	if lo, ok := ephemeralLow(); ok && lo > reserveMin+1000 {
		for range 50 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(reserveMin+rand.IntN(lo-reserveMin)))
			if ln, err := net.Listen("tcp", addr); err == nil {
				return addr, ln.Close()
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// reserveMin is the lowest port ReserveAddr picks: above the well-known and
// most registered services' ports.
const reserveMin = 20000

// ephemeralLow returns the first port of the kernel's ephemeral range.
func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	var lo, hi int
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err != nil || lo <= 0 || hi < lo {
		return 0, false
	}
	return lo, true
}
