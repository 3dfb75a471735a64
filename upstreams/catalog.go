package upstreams

// Catalogs: what an upstream lists (tools, resources, resource templates,
// prompts), as `legant registry import`, `diff` and `approve` fetch it. From
// a catalog: a commented starter registry (every object named, scopes as
// placeholders, argument bindings guessed from the schemas and marked
// "# review", definitions pinned), the pinned objects whose listed
// definition differs from the pin, and the registry file with pins
// rewritten (comments kept).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Catalog is what an upstream lists, each object as the JSON it was listed as.
type Catalog struct {
	Tools, Resources, Templates, Prompts []json.RawMessage
}

// catalogKinds: per pinned kind, the catalog's list and the member naming an item.
func (c *Catalog) pinned(kind string) (items []json.RawMessage, key string) {
	switch kind {
	case PinTool:
		return c.Tools, "name"
	case PinPrompt:
		return c.Prompts, "name"
	default:
		return c.Templates, "uriTemplate"
	}
}

// listed returns the listed objects of kind by name, with their digests.
func (c *Catalog) listed(kind string) (map[string]string, error) {
	items, key := c.pinned(kind)
	out := map[string]string{}
	for _, it := range items {
		name, _ := memberString(it, key)
		d, err := DefinitionDigest(kind, it)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, name, err)
		}
		out[name] = d
	}
	return out, nil
}

// PinDiff is a pinned object whose listed definition differs from its pin.
type PinDiff struct {
	Kind, Name string
	Pin        string // the registry's
	Listed     string // the listed definition's digest; "" when the upstream no longer lists it
}

func (p PinDiff) String() string {
	if p.Listed == "" {
		return fmt.Sprintf("%s %s: pinned %s, not listed by the upstream", p.Kind, p.Name, p.Pin)
	}
	return fmt.Sprintf("%s %s: pinned %s, listed %s", p.Kind, p.Name, p.Pin, p.Listed)
}

// DiffPins returns the pinned objects of up whose definition in c differs
// from the pin, sorted by kind and name.
func DiffPins(up *Upstream, c *Catalog) ([]PinDiff, error) {
	var out []PinDiff
	for _, kind := range []string{PinTool, PinPrompt, PinTemplate} {
		listed, err := c.listed(kind)
		if err != nil {
			return nil, err
		}
		for key, pin := range up.Pins {
			name, ok := strings.CutPrefix(key, kind+":")
			if !ok {
				continue
			}
			if d := listed[name]; d != pin {
				out = append(out, PinDiff{Kind: kind, Name: name, Pin: pin, Listed: d})
			}
		}
	}
	slices.SortFunc(out, func(a, b PinDiff) int { return strings.Compare(a.Kind+"\x00"+a.Name, b.Kind+"\x00"+b.Name) })
	return out, nil
}

// ApprovePins returns the registry file data with the pin of each diff
// replaced by its listed digest, in upstream slug's entry; the YAML is
// rewritten through yaml.Node, so comments stay (indentation becomes two
// spaces). A diff whose object is no longer listed cannot be approved: its
// pin is left as is and reported in skipped.
func ApprovePins(data []byte, slug string, diffs []PinDiff) (out []byte, skipped []PinDiff, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil, fmt.Errorf("empty registry")
	}
	entry := findUpstream(doc.Content[0], slug)
	if entry == nil {
		return nil, nil, fmt.Errorf("no upstream %q in the registry", slug)
	}
	for _, d := range diffs {
		var obj *yaml.Node
		switch d.Kind {
		case PinTool:
			obj = mappingValue(mappingValue(entry, "tools"), d.Name)
		case PinPrompt:
			obj = mappingValue(mappingValue(entry, "prompts"), d.Name)
		case PinTemplate:
			if res := mappingValue(entry, "resources"); res != nil && res.Kind == yaml.SequenceNode {
				for _, g := range res.Content {
					if t := mappingValue(g, "template"); t != nil && t.Value == d.Name {
						obj = g
					}
				}
			}
		}
		if d.Listed == "" || obj == nil || obj.Kind != yaml.MappingNode {
			skipped = append(skipped, d)
			continue
		}
		if v := mappingValue(obj, "pin"); v != nil {
			v.Value, v.Tag, v.Style = d.Listed, "!!str", 0
		} else {
			obj.Content = append(obj.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "pin"},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: d.Listed})
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, nil, err
	}
	enc.Close()
	return b.Bytes(), skipped, nil
}

// findUpstream returns the mapping of the upstream slug in a registry's root mapping.
func findUpstream(root *yaml.Node, slug string) *yaml.Node {
	ups := mappingValue(root, "upstreams")
	if ups == nil || ups.Kind != yaml.SequenceNode {
		return nil
	}
	for _, u := range ups.Content {
		if s := mappingValue(u, "slug"); s != nil && s.Value == slug {
			return u
		}
	}
	return nil
}

// mappingValue returns the value node of key in mapping m (nil when absent
// or m is not a mapping).
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// memberString returns the string member name of a JSON object.
func memberString(obj json.RawMessage, name string) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return "", false
	}
	var s string
	if json.Unmarshal(m[name], &s) != nil {
		return "", false
	}
	return s, true
}

// Binding guesses: an argument (a top-level property of a tool's
// inputSchema, a prompt's argument) named like one of these is probably
// that role. Every guess is written with "# review".
var (
	amountNames   = []string{"amount", "price", "total", "cost", "sum"}
	categoryNames = []string{"category", "type", "kind"}
	urlNames      = []string{"url", "uri", "link", "href"}
	pathNames     = []string{"path", "file", "filename", "filepath", "dir", "directory"}
)

// guessRole returns the role of an argument name ("amount", "category",
// "url", "path") or "".
func guessRole(name string) string {
	n := strings.ToLower(name)
	has := func(names []string) bool {
		return slices.ContainsFunc(names, func(s string) bool {
			return n == s || strings.HasSuffix(n, "_"+s) || strings.HasPrefix(n, s+"_")
		})
	}
	switch {
	case has(amountNames):
		return "amount"
	case has(categoryNames):
		return "category"
	case has(urlNames):
		return "url"
	case has(pathNames):
		return "path"
	}
	return ""
}

// propertyNames returns the top-level property names of a JSON schema, sorted.
func propertyNames(schema json.RawMessage) []string {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	json.Unmarshal(schema, &s)
	var out []string
	for n := range s.Properties {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// q quotes s as a YAML double-quoted scalar (JSON's string syntax is a
// subset of it).
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pointerOf returns the JSON Pointer of a top-level member.
func pointerOf(name string) string {
	return "/" + strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
}

// StarterRegistry writes a commented registry for one upstream from its
// catalog: every tool and prompt named, every listed resource and resource
// template granted, each scope a placeholder ("todo:…": replace it), the
// argument bindings guessed from names and marked "# review", and every
// tool, prompt and template pinned. source says where the catalog came
// from, for the header. The result parses (Parse) as it is.
func StarterRegistry(slug, url, source string, c *Catalog) ([]byte, error) {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Starter registry written by `legant registry import` from %s.\n", source)
	w("# Review before use: every scope is a placeholder (todo:…), every argument binding\n")
	w("# marked \"# review\" is a guess from the schema, and whatever you delete becomes\n")
	w("# invisible and refused through the gateway. Pins (sha256 of each definition) make\n")
	w("# the gateway hide and refuse an object whose definition the upstream changes;\n")
	w("# `legant registry diff` shows such changes and `legant registry approve` accepts them.\n")
	w("version: 1\nupstreams:\n")
	w("  - slug: %s\n    transport: streamable-http\n    url: %s\n", q(slug), q(url))
	type tool struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"inputSchema"`
	}
	if len(c.Tools) > 0 {
		w("    tools:\n")
	}
	for _, raw := range c.Tools {
		var t tool
		if err := json.Unmarshal(raw, &t); err != nil || t.Name == "" {
			return nil, fmt.Errorf("a listed tool without a name: %s", raw)
		}
		pin, err := DefinitionDigest(PinTool, raw)
		if err != nil {
			return nil, err
		}
		if d := firstLine(t.Description); d != "" {
			w("      # %s\n", d)
		}
		w("      %s:\n        scope: %s  # placeholder\n", q(t.Name), q("todo:"+t.Name))
		amount, category, resource := false, false, false
		for _, p := range propertyNames(t.InputSchema) {
			switch role := guessRole(p); {
			case role == "amount" && !amount:
				amount = true
				w("        amount: {pointer: %s, currency: USD}  # review: the argument and its currency\n", q(pointerOf(p)))
			case role == "category" && !category:
				category = true
				w("        category: %s  # review\n", q(pointerOf(p)))
			case (role == "url" || role == "path") && !resource:
				resource = true
				w("        resource: {pointer: %s, kind: %s}  # review\n", q(pointerOf(p)), role)
			}
		}
		w("        pin: %s\n", pin)
	}
	if len(c.Resources)+len(c.Templates) > 0 {
		w("    resources:\n")
	}
	for _, raw := range c.Resources {
		uri, ok := memberString(raw, "uri")
		if !ok || uri == "" {
			return nil, fmt.Errorf("a listed resource without a uri: %s", raw)
		}
		w("      - uri: %s\n        scope: %s  # placeholder\n", q(uri), q("todo:resources"))
	}
	for _, raw := range c.Templates {
		t, ok := memberString(raw, "uriTemplate")
		if !ok || t == "" {
			return nil, fmt.Errorf("a listed resource template without a uriTemplate: %s", raw)
		}
		pin, err := DefinitionDigest(PinTemplate, raw)
		if err != nil {
			return nil, err
		}
		w("      - template: %s\n        scope: %s  # placeholder\n        pin: %s\n", q(t), q("todo:resources"), pin)
	}
	if len(c.Prompts) > 0 {
		w("    prompts:\n")
	}
	for _, raw := range c.Prompts {
		var p struct {
			Name      string `json:"name"`
			Arguments []struct {
				Name string `json:"name"`
			} `json:"arguments"`
		}
		if err := json.Unmarshal(raw, &p); err != nil || p.Name == "" {
			return nil, fmt.Errorf("a listed prompt without a name: %s", raw)
		}
		pin, err := DefinitionDigest(PinPrompt, raw)
		if err != nil {
			return nil, err
		}
		w("      %s:\n        scope: %s  # placeholder\n", q(p.Name), q("todo:"+p.Name))
		category, resource := false, false
		for _, a := range p.Arguments {
			switch role := guessRole(a.Name); {
			case role == "category" && !category:
				category = true
				w("        category: %s  # review\n", q(pointerOf(a.Name)))
			case (role == "url" || role == "path") && !resource:
				resource = true
				w("        resource: {pointer: %s, kind: %s}  # review\n", q(pointerOf(a.Name)), role)
			}
		}
		w("        pin: %s\n", pin)
	}
	return b.Bytes(), nil
}

// firstLine returns the first line of s, bounded, for a comment. Every
// other line break or control character (\r, U+0085, U+2028…) becomes a
// space: an upstream's description must not end the comment and write
// YAML of its own into the registry.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100]) + "…"
	}
	return s
}
