package authority

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// CanonicalResource returns the canonical form of an RFC 8707 resource
// indicator, so that audiences and resource allow-lists compare by value.
//
// An absolute URL (scheme and host) gets a lowercase scheme and host, loses a
// default port (80 for http, 443 for https) and has its path cleaned
// ("/a/./b/../c/" becomes "/a/c"; a bare "/" becomes ""); the query is kept.
// A URL with a fragment or user information is an error (RFC 8707 §2).
// The host must be an ASCII DNS name (internationalized names in their
// xn-- form) or an IP literal. Any other non-empty string (a URN, a bare
// name) is returned trimmed.
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
	case u.Scheme == "" || u.Hostname() == "" || u.Opaque != "":
		return "", fmt.Errorf("resource %q: not an absolute URL", truncate(s, 200))
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("resource %q: fragment not allowed", truncate(s, 200))
	case u.User != nil:
		return "", fmt.Errorf("resource %q: user information not allowed", truncate(s, 200))
	}
	host, err := canonicalHost(u)
	if err != nil {
		return "", fmt.Errorf("resource %q: %w", truncate(s, 200), err)
	}
	return canonicalURL(u, host), nil
}

func canonicalURL(u *url.URL, host string) string {
	p := u.EscapedPath()
	if p != "" {
		p = path.Clean(p)
		if p == "/" || p == "." {
			p = ""
		}
	}
	out := strings.ToLower(u.Scheme) + "://" + host + p
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out
}

func isDefaultPort(scheme, port string) bool {
	return (scheme == "http" && port == "80") || (scheme == "https" && port == "443")
}

// canonicalHost returns the lowercase host with its port, the port dropped
// when it is the scheme's default. It refuses hosts that are neither a DNS
// name (letters, digits, "-", ".", "_") nor an IP literal, and bad ports.
func canonicalHost(u *url.URL) (string, error) {
	host := strings.ToLower(u.Hostname())
	if ip := net.ParseIP(host); ip != nil && strings.Contains(host, ":") {
		host = "[" + ip.String() + "]"
	} else if strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789-._") != "" {
		return "", errors.New("bad host")
	}
	port := u.Port()
	if port == "" {
		return host, nil // no port, or an empty one: the default
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", errors.New("bad port")
	}
	if isDefaultPort(strings.ToLower(u.Scheme), strconv.Itoa(n)) {
		return host, nil
	}
	return host + ":" + strconv.Itoa(n), nil
}
