package upstreams

import "net/url"

// h2cOf sets u.H2C from the registry's "h2c: true", which only applies to
// a streamable-http upstream at an http:// URL: https negotiates HTTP/2 by
// itself (ALPN), and the bridged transports do not use HTTP to the server.
func (d *decoder) h2cOf(s upstreamSpec, u *Upstream, endpoint *url.URL) {
	if !s.h2c.ok() || !s.h2c.v {
		return
	}
	switch {
	case u.Transport != TransportStreamableHTTP:
		d.onlyFor(s.h2c.node, s.h2c.path, TransportStreamableHTTP)
	case endpoint != nil && endpoint.Scheme != "http":
		d.errorf(s.h2c.node, s.h2c.path, "is only for an http:// url (https negotiates HTTP/2 itself)")
	default:
		u.H2C = true
	}
}
