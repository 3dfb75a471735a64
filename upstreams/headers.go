package upstreams

import (
	"net/textproto"
	"strings"
)

// credentialHeaders carry credentials: the registry must hold no static
// secret and never pass a token through; the gateway mints one per call.
var credentialHeaders = map[string]bool{
	"Authorization":       true,
	"Proxy-Authorization": true,
	"Cookie":              true,
}

// gatewayHeaders are set by the gateway or the HTTP transport itself.
var gatewayHeaders = map[string]bool{
	"Accept":               true,
	"Connection":           true,
	"Content-Length":       true,
	"Content-Type":         true,
	"Host":                 true,
	"Keep-Alive":           true,
	"Last-Event-Id":        true,
	"Mcp-Protocol-Version": true,
	"Mcp-Session-Id":       true,
	"Proxy-Connection":     true,
	"Te":                   true,
	"Trailer":              true,
	"Transfer-Encoding":    true,
	"Upgrade":              true,
}

// headersOf validates static headers and returns them by canonical name.
func (d *decoder) headersOf(f field[[]pair]) map[string]string {
	if !f.set() {
		return nil
	}
	out := make(map[string]string, len(f.v))
	first := make(map[string]pair, len(f.v))
	for _, p := range f.v {
		name := textproto.CanonicalMIMEHeaderKey(p.key.v)
		switch {
		case !validHeaderName(p.key.v):
			d.errorf(p.key.node, p.key.path, "%q is not a valid header name", p.key.v)
		case credentialHeaders[name]:
			d.errorf(p.key.node, p.key.path, "%s is refused in headers: a credential for the upstream goes in auth (kind static, value {env: NAME} or {file: PATH})", name)
		case gatewayHeaders[name]:
			d.errorf(p.key.node, p.key.path, "%s is set by the gateway", name)
		case first[name].key.node != nil:
			d.errorf(p.key.node, p.key.path, "duplicate header (first as %q at line %d)", first[name].key.v, first[name].key.node.Line)
		case p.val.ok() && !validHeaderValue(p.val.v):
			d.errorf(p.val.node, p.val.path, "header values must not contain control characters")
		case p.val.ok():
			out[name] = p.val.v
		}
		if _, seen := first[name]; !seen {
			first[name] = p
		}
	}
	return out
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
