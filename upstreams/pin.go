package upstreams

// Pinned definitions: the registry may pin each tool's, prompt's and
// resource template's definition — the digest of its name, description and
// schemas as the upstream lists them — so that a definition rewritten after
// review (a "rug pull": a tool's description turned into instructions, its
// schema widened) is noticed. The gateway hides and refuses an object whose
// listed definition no longer has its pin's digest; `legant registry diff`
// shows the change and `legant registry approve` accepts it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"

	"github.com/go-json-experiment/json/jsontext"
)

// Kinds of pinned objects, and the list member each is listed in.
const (
	PinTool     = "tool"     // tools/list "tools", keyed by name
	PinPrompt   = "prompt"   // prompts/list "prompts", keyed by name
	PinTemplate = "template" // resources/templates/list "resourceTemplates", keyed by uriTemplate
)

// definitionMembers are the members of a listed object that its pin covers,
// per kind: what a client shows a model and validates calls against. Other
// members (title, icons, annotations, _meta) are not pinned.
var definitionMembers = map[string][]string{
	PinTool:     {"name", "description", "inputSchema", "outputSchema"},
	PinPrompt:   {"name", "description", "arguments"},
	PinTemplate: {"uriTemplate", "name", "description", "mimeType"},
}

// pinRE is a pin as the registry writes it.
var pinRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Pin returns the registry's pin of an object of kind (PinTool, PinPrompt,
// PinTemplate) named name ("" and false when unpinned).
func (u *Upstream) Pin(kind, name string) (string, bool) {
	p, ok := u.Pins[kind+":"+name]
	return p, ok
}

// DefinitionDigest returns the pin of a listed object's definition: the
// SHA-256, as "sha256:<hex>", of the canonical JSON (Canonical) of the
// object reduced to the members of its kind's definition (name,
// description and schemas; absent members stay absent). item is the object
// exactly as the upstream listed it.
func DefinitionDigest(kind string, item []byte) (string, error) {
	members, ok := definitionMembers[kind]
	if !ok {
		return "", fmt.Errorf("no definition for kind %q", kind)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(item))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return "", fmt.Errorf("a %s definition must be a JSON object", kind)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			return "", err
		}
		name := k.String() // valid only until the next read
		v, err := dec.ReadValue()
		if err != nil {
			return "", err
		}
		for _, m := range members {
			if name == m {
				if b.Len() > 1 {
					b.WriteByte(',')
				}
				key, _ := jsontext.AppendQuote(nil, m)
				b.Write(key)
				b.WriteByte(':')
				b.Write(v)
			}
		}
	}
	b.WriteByte('}')
	canon, err := Canonical(b.Bytes())
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canon)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Canonical returns the canonical form of a JSON value, as RFC 8785 (JSON
// Canonicalization Scheme) defines it: no insignificant whitespace, object
// members sorted by their names' UTF-16 code units, strings with the
// minimal escaping, numbers in ECMAScript's shortest form. A value with a
// duplicate member name, or that is not valid JSON, is an error. It is the
// one canonicalization of pins (go-json-experiment's jsontext implements
// the RFC).
func Canonical(v []byte) ([]byte, error) {
	c := jsontext.Value(bytes.Clone(v))
	if err := c.Canonicalize(); err != nil {
		return nil, err
	}
	return c, nil
}

// ValidPin reports whether p is written as a pin: "sha256:" and 64
// lowercase hex digits.
func ValidPin(p string) bool { return pinRE.MatchString(p) }

// pinsOf validates the pins of an upstream's tools, prompts and resource
// templates.
func (d *decoder) pinsOf(s upstreamSpec) map[string]string {
	out := map[string]string{}
	add := func(f field[string], kind, name string) {
		switch {
		case !f.set() || !f.ok():
		case !pinRE.MatchString(f.v):
			d.errorf(f.node, f.path, "%q is not a pin (sha256: and 64 lowercase hex digits, as `legant registry import` writes it)", f.v)
		default:
			out[kind+":"+name] = f.v
		}
	}
	for _, t := range s.tools.v {
		add(t.pin, PinTool, t.name.v)
	}
	for _, p := range s.prompts.v {
		add(p.pin, PinPrompt, p.name.v)
	}
	for _, g := range s.resources.v {
		if g.pin.set() && !g.template.set() {
			d.errorf(g.pin.node, g.pin.path, "only a template grant can be pinned (a template is a listed definition; a URI or prefix is not)")
			continue
		}
		add(g.pin, PinTemplate, g.template.v)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
