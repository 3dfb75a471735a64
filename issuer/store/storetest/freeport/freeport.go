// Package freeport reserves loopback ports for processes that must be told
// their address before they start: the child gateways and proxies of
// `legant bench`, and the gateways, demos and PostgreSQL clusters tests
// start. It does not import package testing, so the legant binary may use it.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Min is the lowest port Addr picks below the ephemeral range: above the
// well-known ports and most registered services'.
const Min = 20000

// Addr returns a loopback address ("127.0.0.1:port") that was free a moment
// ago. Where the kernel tells its ephemeral range (Linux:
// net.ipv4.ip_local_port_range), the port is a random free one below it: a
// port from that range ("127.0.0.1:0") may be handed meanwhile to the local
// end of any outgoing connection — and a benchmark or tests running beside
// open thousands — so the process's listen could fail with "address already
// in use". Below the range only another listener can take it, and only by
// choosing the same random port.
func Addr() (string, error) {
	if lo, ok := EphemeralLow(); ok && lo > Min+1000 {
		for range 50 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(Min+rand.IntN(lo-Min)))
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

// Port is Addr's port.
func Port() (int, error) {
	addr, err := Addr()
	if err != nil {
		return 0, err
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

// EphemeralLow returns the first port of the kernel's ephemeral range, when
// the kernel tells it.
func EphemeralLow() (int, bool) {
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
