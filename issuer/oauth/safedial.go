package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// errForbiddenAddress reports a dial to an address that is not public.
var errForbiddenAddress = errors.New("address is not a public unicast address")

// nonPublic are the prefixes, besides what netip classifies as loopback,
// private, link-local, multicast or unspecified, that a server-side fetch of
// a client-supplied URL must never reach: shared address space (CGNAT),
// IETF and documentation ranges, benchmarking, reserved (with broadcast), NAT64 and 6to4
// (which can embed any IPv4 address), discard and Teredo.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// publicAddr reports whether ip is a public unicast address. Cloud metadata
// endpoints (169.254.169.254, fd00:ec2::254) are link-local or unique-local
// and so refused.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// safeDialer returns a dialer that refuses, at connect time, every address
// that is not public. The check runs in Control, on the IP the connection
// is about to use (after name resolution), so DNS rebinding between a check
// and the dial cannot slip through. allowPrivate disables the check (tests).
func safeDialer(timeout time.Duration, allowPrivate bool) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			if allowPrivate {
				return nil
			}
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("dial %s: %w", address, errForbiddenAddress)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !publicAddr(ip) {
				return fmt.Errorf("dial %s: %w", address, errForbiddenAddress)
			}
			return nil
		},
	}
}
