package upstreams

// downstream_dpop: the gateway's own tokens to a Legant-aware upstream are
// sender-constrained (RFC 9449) to a key of the gateway's, and every request
// to the upstream carries a fresh proof of that key. An upstream that
// requires DPoP (the Go SDK in dpop.ModeRequire) then accepts the gateway's
// downstream token only from the gateway: a token leaked from the upstream's
// logs or memory is useless without the key.

// downstreamDPoPOf validates downstream_dpop: a boolean, only for the
// gateway's own tokens (auth kind legant) sent over HTTP.
func (d *decoder) downstreamDPoPOf(s upstreamSpec, u *Upstream) {
	f := s.downstreamDPoP
	if !f.ok() || !f.v {
		return
	}
	switch {
	case u.Transport == TransportStdio:
		d.onlyFor(f.node, f.path, TransportStreamableHTTP, TransportSSE)
	case u.Auth.Kind != AuthLegant && u.Auth.Kind != "":
		d.errorf(f.node, f.path, "is only for auth kind %s (the gateway's own tokens), not %s", AuthLegant, u.Auth.Kind)
	default:
		u.DownstreamDPoP = true
	}
}
