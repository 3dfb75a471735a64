package oauth

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// validRedirect checks a redirect URI a client registers: an absolute https
// URL, an http URL on a loopback host (RFC 8252 §7.3), or one of the exact
// private-use URIs the server accepts (RFC 8252 §7.1). No fragment, no
// userinfo.
func (s *Server) validRedirect(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("redirect URI %q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q has a fragment", raw)
	}
	if u.User != nil {
		return fmt.Errorf("redirect URI %q has userinfo", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q has no host", raw)
		}
		return nil
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("redirect URI %q: http is allowed only on a loopback host (127.0.0.1, [::1], localhost); use https", raw)
		}
		return nil
	}
	if slices.Contains(s.opts.PrivateUseRedirectURIs, raw) {
		return nil
	}
	return fmt.Errorf("redirect URI %q: the scheme %q is not accepted (https, loopback http, or an allowed private-use URI)", raw, u.Scheme)
}

// isLoopbackHost reports whether host names the loopback interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// matchRedirect reports whether the redirect_uri of a request matches one a
// client registered: exactly, or, for loopback http URIs, exactly but for
// the port (RFC 8252 §7.3: native apps pick an ephemeral port).
func matchRedirect(registered []string, requested string) bool {
	if slices.Contains(registered, requested) {
		return true
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopbackHost(req.Hostname()) {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || !isLoopbackHost(reg.Hostname()) {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.EscapedPath() == req.EscapedPath() && reg.RawQuery == req.RawQuery {
			return true
		}
	}
	return false
}
