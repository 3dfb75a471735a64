package upstreams

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/openlegant/legant/policy"
)

// maxSchemaVisits bounds the work of expanding $ref and allOf/anyOf/oneOf
// in one tool's inputSchema; a schema that needs more is only partly checked.
const maxSchemaVisits = 10000

// schemaWalker follows JSON pointers into a JSON Schema (as decoded by
// encoding/json), the way Lint needs: along "properties" for object keys and
// "items"/"prefixItems" for array indexes, through local $ref and the
// allOf/anyOf/oneOf combinators. It is used by one goroutine.
type schemaWalker struct {
	root   any
	visits int
}

// expand returns the object schemas node stands for: itself, the target of
// its local $ref, and recursively its allOf/anyOf/oneOf branches.
func (w *schemaWalker) expand(node any) []map[string]any {
	m, ok := node.(map[string]any)
	if w.visits++; !ok || w.visits > maxSchemaVisits {
		return nil
	}
	out := []map[string]any{m}
	if ref, ok := m["$ref"].(string); ok {
		if target, ok := w.ref(ref); ok {
			out = append(out, w.expand(target)...)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := m[k].([]any)
		for _, branch := range list {
			out = append(out, w.expand(branch)...)
		}
	}
	return out
}

// ref resolves a reference within the document ("#", "#/$defs/x").
func (w *schemaWalker) ref(ref string) (any, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false // remote references are not followed
	}
	if frag == "" {
		return w.root, true
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, false
	}
	p, err := policy.ParsePointer(frag)
	if err != nil {
		return nil, false
	}
	cur := w.root
	for _, tok := range p.Tokens() {
		switch v := cur.(type) {
		case map[string]any:
			cur, ok = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			ok = err == nil && i >= 0 && i < len(v)
			if ok {
				cur = v[i]
			}
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// lookup follows pointer tokens from the root. It returns the schemas found
// there; or missing describing the first token nothing declares; open is
// true when some token was admitted only by additionalProperties or
// patternProperties.
func (w *schemaWalker) lookup(tokens []string) (at []map[string]any, missing string, open bool) {
	at = w.expand(w.root)
	for i, tok := range tokens {
		next := w.declared(at, tok)
		if len(next) == 0 {
			next = w.undeclared(at, tok)
			open = open || len(next) > 0
		}
		if len(next) == 0 {
			where := "at the top level"
			if i > 0 {
				where = "under /" + strings.Join(tokens[:i], "/")
			}
			return nil, fmt.Sprintf("nothing declares %q %s%s", tok, where, declaredNames(at)), open
		}
		at = next
	}
	return at, "", open
}

// declared follows tok along properties, items and prefixItems.
func (w *schemaWalker) declared(at []map[string]any, tok string) []map[string]any {
	var next []map[string]any
	i, isIndex := arrayIndex(tok)
	for _, s := range at {
		if props, ok := s["properties"].(map[string]any); ok {
			if v, ok := props[tok]; ok {
				next = append(next, w.expand(v)...)
			}
		}
		if !isIndex {
			continue
		}
		switch items := s["items"].(type) {
		case map[string]any:
			next = append(next, w.expand(items)...)
		case []any: // draft-04 tuple form
			if i < len(items) {
				next = append(next, w.expand(items[i])...)
			}
		}
		if prefix, ok := s["prefixItems"].([]any); ok && i < len(prefix) {
			next = append(next, w.expand(prefix[i])...)
		}
	}
	return next
}

// undeclared follows tok through additionalProperties and patternProperties.
func (w *schemaWalker) undeclared(at []map[string]any, tok string) []map[string]any {
	var next []map[string]any
	for _, s := range at {
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			next = append(next, w.expand(ap)...)
		}
		pats, _ := s["patternProperties"].(map[string]any)
		for pat, v := range pats {
			if re, err := regexp.Compile(pat); err == nil && re.MatchString(tok) {
				next = append(next, w.expand(v)...)
			}
		}
	}
	return next
}

// types collects the "type" keywords of the schemas, sorted and deduplicated.
func (w *schemaWalker) types(at []map[string]any) []string {
	var out []string
	for _, s := range at {
		switch t := s["type"].(type) {
		case string:
			out = append(out, t)
		case []any:
			for _, x := range t {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// declaredNames lists the property names declared at a level, for messages.
func declaredNames(at []map[string]any) string {
	var names []string
	for _, s := range at {
		props, _ := s["properties"].(map[string]any)
		for n := range props {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return " (no properties are declared there)"
	}
	slices.Sort(names)
	return " (declared: " + strings.Join(slices.Compact(names), ", ") + ")"
}

// arrayIndex parses an RFC 6901 array index: plain digits without a leading
// zero ("-0" and "+1" name nothing, as in policy.Pointer.Lookup).
func arrayIndex(tok string) (int, bool) {
	if tok == "" || strings.Trim(tok, "0123456789") != "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	i, err := strconv.Atoi(tok)
	return i, err == nil
}
