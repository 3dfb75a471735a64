package authority

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// CanonicalResource returns the canonical form of an RFC 8707 resource
// indicator, so that audiences and resource allow-lists compare by value.
//
// An absolute URL (scheme and host) gets a lowercase scheme and host, loses a
// default port (80 for http, 443 for https) and has its path cleaned
// ("/a/./b/../c/" becomes "/a/c"; a bare "/" becomes ""); the query is kept.
// A URL with a fragment or user information is an error (RFC 8707 §2).
// Any other non-empty string (a URN, a bare name) is returned trimmed.
func CanonicalResource(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty resource")
	}
	if !strings.Contains(s, "://") {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("resource %q: %w", truncate(s, 200), err)
	}
	switch {
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("resource %q: not an absolute URL", truncate(s, 200))
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("resource %q: fragment not allowed", truncate(s, 200))
	case u.User != nil:
		return "", fmt.Errorf("resource %q: user information not allowed", truncate(s, 200))
	}
	return canonicalURL(u), nil
}

func canonicalURL(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !isDefaultPort(scheme, port) {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	p := u.EscapedPath()
	if p != "" {
		p = path.Clean(p)
		if p == "/" || p == "." {
			p = ""
		}
	}
	out := scheme + "://" + host + p
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out
}

func isDefaultPort(scheme, port string) bool {
	return (scheme == "http" && port == "80") || (scheme == "https" && port == "443")
}
