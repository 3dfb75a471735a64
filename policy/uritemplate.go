package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// URITemplate is an RFC 6570 URI template used as a pattern: Match reports
// whether a URI is one of the template's expansions. It is immutable and safe
// for concurrent use.
//
// Each expression matches what its operator can expand to: {var} (simple
// expansion, reserved characters percent-encoded) one segment without
// "/", "?" or "#"; {+var} and {#var} anything but "#" (resp. a fragment);
// {/var} zero or more "/segment"s; {.var} and {;var} their labelled parts of
// one segment; {?var} and {&var} a query. A template matches no URI that
// climbs with "..": an expansion of {var} cannot hold "/", and {+var} or
// {/var} expansions with a ".." segment are refused by Match.
type URITemplate struct {
	raw string
	re  *regexp.Regexp
}

// ParseURITemplate parses an RFC 6570 template (levels 1–4 syntax; prefix
// and explode modifiers are accepted and match like the plain variable).
func ParseURITemplate(s string) (*URITemplate, error) {
	var b strings.Builder
	b.WriteString("^")
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		if rest[i] == '}' {
			return nil, fmt.Errorf("policy: URI template %q: unmatched '}'", shorten(s))
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("policy: URI template %q: unclosed '{'", shorten(s))
		}
		expr := rest[i+1 : i+j]
		pat, err := expressionPattern(expr)
		if err != nil {
			return nil, fmt.Errorf("policy: URI template %q: %v", shorten(s), err)
		}
		b.WriteString(pat)
		rest = rest[i+j+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("policy: URI template %q: %v", shorten(s), err)
	}
	return &URITemplate{raw: s, re: re}, nil
}

var varSpecRE = regexp.MustCompile(`^[A-Za-z0-9_%][A-Za-z0-9_.%]*(:[1-9][0-9]{0,3}|\*)?$`)

// expressionPattern is the regular expression an expression's expansions match.
func expressionPattern(expr string) (string, error) {
	if expr == "" {
		return "", fmt.Errorf("empty expression")
	}
	op := ""
	if strings.ContainsRune("+#./;?&", rune(expr[0])) {
		op, expr = expr[:1], expr[1:]
	}
	for _, v := range strings.Split(expr, ",") {
		if !varSpecRE.MatchString(v) {
			return "", fmt.Errorf("bad variable %q", v)
		}
	}
	const segment = `[^/?#]*`
	switch op {
	case "":
		return segment, nil
	case "+":
		return `[^#]*`, nil
	case "#":
		return `(?:#.*)?`, nil
	case "/":
		return `(?:/[^/?#]*)*`, nil
	case ".":
		return `(?:\.[^/?#.]*)*`, nil
	case ";":
		return `(?:;[^/?#;]*)*`, nil
	default: // "?" and "&"
		return `(?:[?&][^#]*)?`, nil
	}
}

// String returns the template as written.
func (t *URITemplate) String() string { return t.raw }

// Match reports whether uri is an expansion of the template. A URI with a
// ".." or "." path segment never matches (percent-encoded forms included):
// the upstream may resolve it outside what the template names.
func (t *URITemplate) Match(uri string) bool {
	return !hasDotSegment(uri) && t.re.MatchString(uri)
}

// hasDotSegment reports whether uri's path (before "?" or "#") has a "." or
// ".." segment, literally or percent-encoded.
func hasDotSegment(uri string) bool {
	if i := strings.IndexAny(uri, "?#"); i >= 0 {
		uri = uri[:i]
	}
	for _, seg := range strings.Split(uri, "/") {
		s := strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}
