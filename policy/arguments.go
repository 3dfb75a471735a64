package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/openlegant/legant/authority"
)

// Argument extraction is strict and never coerces: a bound argument must be
// present, of the expected JSON type, and in the expected lexical form. Each
// failure names the pointer and the problem.

// argError is a problem with the arguments or with one bound argument.
type argError struct {
	ptr     string // "" for the arguments as a whole
	problem string // "string where a number is expected"
	value   string // offending value when useful, shortened
}

func (e *argError) Error() string {
	if e.ptr == "" {
		return "arguments: " + e.problem
	}
	if e.problem == "" {
		return "argument " + e.ptr + " is missing"
	}
	return "argument " + e.ptr + ": " + e.problem
}

var emptyObject = []byte("{}")

// argumentsObject returns the call's arguments as a validated JSON object.
// nil, empty and null mean {}. checked: the caller has validated raw
// (Call.ArgumentsChecked), only its type is left to check.
func argumentsObject(raw json.RawMessage, checked bool) ([]byte, *argError) {
	doc := bytes.TrimSpace(raw)
	if len(doc) == 0 || string(doc) == "null" {
		return emptyObject, nil
	}
	if !checked {
		if err := validJSON(doc); err != nil {
			return nil, &argError{problem: err.Error()}
		}
	}
	if doc[0] != '{' {
		return nil, &argError{problem: jsonKind(doc) + " where an object is expected"}
	}
	return doc, nil
}

// rawArgument returns the bound value exactly as written.
func rawArgument(args []byte, p Pointer) ([]byte, *argError) {
	v, ok, err := lookupValid(args, p.Tokens())
	if err != nil {
		return nil, &argError{ptr: p.String(), problem: err.Error()}
	}
	if !ok {
		return nil, &argError{ptr: p.String()}
	}
	return v, nil
}

// jsonKind names the JSON type of a valid value by its first byte.
func jsonKind(v []byte) string {
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// readAmount reads a non-negative plain decimal number: a JSON number literal
// that authority.ParseDecimal accepts as written, without a sign or exponent.
func readAmount(args []byte, p Pointer) (authority.Decimal, *argError) {
	raw, aerr := rawArgument(args, p)
	if aerr != nil {
		return authority.Decimal{}, aerr
	}
	fail := func(problem string) (authority.Decimal, *argError) {
		return authority.Decimal{}, &argError{ptr: p.String(), problem: problem, value: shorten(string(raw))}
	}
	if k := jsonKind(raw); k != "number" {
		return fail(k + " where a number is expected")
	}
	lit := string(raw)
	switch {
	case strings.ContainsAny(lit, "eE"):
		return fail("number " + shorten(lit) + " uses exponent notation; a plain decimal is expected")
	case lit[0] == '-':
		return fail("negative amount " + shorten(lit))
	}
	d, err := authority.ParseDecimal(lit)
	if err != nil {
		return fail(fmt.Sprintf("amount %s is not an accepted decimal: %v", shorten(lit), err))
	}
	return d, nil
}

// readString reads a JSON string argument.
func readString(args []byte, p Pointer) (string, *argError) {
	raw, aerr := rawArgument(args, p)
	if aerr != nil {
		return "", aerr
	}
	return stringValue(p, raw)
}

// stringValue decodes the JSON string raw, the value at p.
func stringValue(p Pointer, raw []byte) (string, *argError) {
	if k := jsonKind(raw); k != "string" {
		return "", &argError{ptr: p.String(), problem: k + " where a string is expected", value: shorten(string(raw))}
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &argError{ptr: p.String(), problem: err.Error()}
	}
	return s, nil
}

// callCurrency returns the currency the call is made in: the string at
// CurrencyPointer when present (it must then agree with a fixed Currency), else
// the binding's fixed currency. "" means the call states none.
func callCurrency(args []byte, ab *AmountBinding) (string, *argError) {
	if ab.CurrencyPointer.IsZero() {
		return ab.Currency, nil
	}
	ptr := ab.CurrencyPointer.String()
	raw, found, err := lookupValid(args, ab.CurrencyPointer.Tokens())
	if err != nil {
		return "", &argError{ptr: ptr, problem: err.Error()}
	}
	if !found {
		return ab.Currency, nil
	}
	cur, aerr := stringValue(ab.CurrencyPointer, raw)
	if aerr != nil {
		return "", aerr
	}
	if !authority.IsCurrencyCode(cur) {
		return "", &argError{ptr: ptr, problem: fmt.Sprintf("%q is not an ISO 4217 code (three uppercase letters)", shorten(cur)), value: shorten(cur)}
	}
	if ab.Currency != "" && cur != ab.Currency {
		return "", &argError{ptr: ptr, problem: fmt.Sprintf("currency %s differs from the tool's fixed currency %s", cur, ab.Currency), value: cur}
	}
	return cur, nil
}

// canonicalResource canonicalizes a resource argument according to its kind.
func canonicalResource(kind ResourceKind, s string) (string, error) {
	switch kind {
	case ResourceURL:
		c, err := authority.CanonicalResource(s)
		if err != nil {
			return "", err
		}
		u, err := url.Parse(c)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return "", fmt.Errorf("%q is not an absolute URL with a host", shorten(s))
		}
		return c, nil
	case ResourcePath:
		return canonicalPath(s)
	case ResourceName, "":
		if s == "" {
			return "", fmt.Errorf("empty name")
		}
		return s, nil
	default:
		return "", fmt.Errorf("unknown resource kind %q", kind)
	}
}

// canonicalPath cleans an absolute slash path. A ".." that would climb above
// the root is an error (path.Clean would silently drop it, turning "/../etc"
// into "/etc"); NUL and backslash are refused because upstreams disagree on them.
func canonicalPath(s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("empty path")
	case strings.ContainsAny(s, "\x00\\"):
		return "", fmt.Errorf("path %q contains NUL or a backslash", shorten(s))
	case s[0] != '/':
		return "", fmt.Errorf("path %q is not absolute", shorten(s))
	}
	depth := 0
	for _, seg := range strings.Split(s[1:], "/") {
		switch seg {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", fmt.Errorf("path %q escapes the root", shorten(s))
			}
		default:
			depth++
		}
	}
	return path.Clean(s), nil
}

// resourceAllowed checks a canonical resource against the token's set. URL and
// name resources match entries exactly; a path matches an equal entry, or an
// entry ending in "/" that is its directory or an ancestor ("/data/" allows
// "/data", "/data/a" and "/data/a/b", not "/database").
func resourceAllowed(set authority.Set, kind ResourceKind, r string) bool {
	if set.Contains(r) {
		return true
	}
	if kind != ResourcePath || set.Unrestricted() {
		return false
	}
	for _, e := range set.Items() {
		if !strings.HasSuffix(e, "/") {
			continue
		}
		if strings.HasPrefix(r, e) || r == e[:len(e)-1] {
			return true
		}
	}
	return false
}
