package gateway

import "net/http"

// h2cTransport returns the transport for upstreams marked h2c in the
// registry: base's settings, speaking only HTTP/2 over cleartext (prior
// knowledge). Every stream to such an upstream — above all the idle GET
// streams, one per session — then shares a few connections and their read
// loops, instead of a connection with two goroutines and two 4 KiB buffers
// each. A base that is not an *http.Transport (a caller's own) is used as
// given.
func h2cTransport(base http.RoundTripper) http.RoundTripper {
	t, ok := base.(*http.Transport)
	if !ok {
		return base
	}
	t = t.Clone()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	t.Protocols = &p
	return t
}
