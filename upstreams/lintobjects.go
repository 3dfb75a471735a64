package upstreams

// Lint of the other listed objects: prompts, resources and resource
// templates (and every pin), against saved prompts/list, resources/list and
// resources/templates/list answers, as Lint does for tools.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// ParseList reads a saved list answer of member ("prompts", "resources",
// "resourceTemplates", "tools"): a whole JSON-RPC response, its result, or
// a bare array (several pages joined). A result with a nextCursor is
// refused (one page of several). Each item is returned as it was listed.
func ParseList(data []byte, member string) ([]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, fmt.Errorf("%s: %w", member, err)
		}
		return items, nil
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, fmt.Errorf("%s: %w", member, err)
	}
	switch {
	case len(msg["error"]) > 0:
		return nil, fmt.Errorf("%s: the saved response is a JSON-RPC error: %s", member, msg["error"])
	case len(msg["result"]) > 0:
		return ParseList(msg["result"], member)
	case len(msg["nextCursor"]) > 0 && string(msg["nextCursor"]) != `""` && string(msg["nextCursor"]) != "null":
		return nil, errors.New(member + ": the saved result has a nextCursor: save every page, joined as one JSON array")
	case len(msg[member]) == 0:
		return nil, fmt.Errorf("%s: no %q array (want a response, its result, or an array)", member, member)
	}
	return ParseList(msg[member], member)
}

// LintObjects checks an upstream's prompts, resource grants and pins
// against what it lists; a nil list was not given and is not checked.
//
//   - prompts: every registered prompt must be listed (error); a bound
//     argument (category, resource) must name one of its listed arguments
//     (error); a listed prompt the registry does not name is invisible
//     (warning);
//   - resources: a template grant must be listed (error); a listed resource
//     or template no grant covers is invisible (warning); an exact URI grant
//     the upstream does not list is reported as a warning (servers may
//     serve URIs they do not list);
//   - pins (tools too, when given): a pinned object whose listed
//     definition has another digest is an error (the gateway hides and
//     refuses it: definition_changed).
func LintObjects(up *Upstream, tools, prompts, resources, templates []json.RawMessage) []Finding {
	var out []Finding
	add := func(name, field string, sev Severity, format string, args ...any) {
		out = append(out, Finding{Upstream: up.Slug, Tool: name, Field: field, Severity: sev, Msg: fmt.Sprintf(format, args...), Pos: up.Pos})
	}
	if prompts != nil {
		listed := map[string][]string{}
		for _, raw := range prompts {
			var p struct {
				Name      string `json:"name"`
				Arguments []struct {
					Name string `json:"name"`
				} `json:"arguments"`
			}
			if json.Unmarshal(raw, &p) != nil || p.Name == "" {
				add("", up.path+".prompts", SeverityError, "the upstream lists a prompt without a name: %.80s", raw)
				continue
			}
			var args []string
			for _, a := range p.Arguments {
				args = append(args, a.Name)
			}
			listed[p.Name] = args
		}
		for _, name := range sortedKeys(up.Prompts) {
			b := up.Prompts[name]
			field := pathKey(up.path+".prompts", name)
			args, ok := listed[name]
			if !ok {
				add(name, field, SeverityError, "the upstream does not list this prompt")
				continue
			}
			check := func(role string, tokens []string) {
				if len(tokens) != 1 || !slices.Contains(args, tokens[0]) {
					add(name, field+"."+role, SeverityError, "/%s names no argument of the listed prompt (arguments: %v)", joinTokens(tokens), args)
				}
			}
			if b.Category.String() != "" {
				check("category", b.Category.Tokens())
			}
			if b.Resource != nil {
				check("resource", b.Resource.Value.Tokens())
			}
		}
		for _, name := range sortedKeys(listed) {
			if _, ok := up.Prompts[name]; !ok {
				add(name, pathKey(up.path+".prompts", name), SeverityWarning,
					"the upstream lists this prompt but the registry does not: it is invisible and unusable through the gateway")
			}
		}
	}
	if resources != nil {
		listed := map[string]bool{}
		for _, raw := range resources {
			uri, _ := memberString(raw, "uri")
			listed[uri] = true
			if up.Resources.For(uri) == nil {
				add(uri, up.path+".resources", SeverityWarning, "the upstream lists resource %q but no grant covers it: it is invisible and unreadable through the gateway", uri)
			}
		}
		for i, g := range up.Resources {
			if g.URI != "" && !listed[g.URI] {
				add(g.URI, fmt.Sprintf("%s.resources[%d]", up.path, i), SeverityWarning, "the upstream does not list %q (it may still serve it)", g.URI)
			}
		}
	}
	if templates != nil {
		listed := map[string]bool{}
		for _, raw := range templates {
			t, _ := memberString(raw, "uriTemplate")
			listed[t] = true
			if up.Resources.ForTemplate(t) == nil {
				add(t, up.path+".resources", SeverityWarning, "the upstream lists template %q but no grant covers it: it is invisible through the gateway", t)
			}
		}
		for i, g := range up.Resources {
			if g.Template != nil && !listed[g.Template.String()] {
				add(g.Template.String(), fmt.Sprintf("%s.resources[%d]", up.path, i), SeverityError, "the upstream does not list template %q", g.Template.String())
			}
		}
	}
	cat := &Catalog{Tools: tools, Prompts: prompts, Templates: templates}
	for _, kind := range []string{PinTool, PinPrompt, PinTemplate} {
		if items, _ := cat.pinned(kind); items == nil {
			continue
		}
		listed, err := cat.listed(kind)
		if err != nil {
			add("", up.path, SeverityError, "%v", err)
			continue
		}
		for _, key := range sortedKeys(up.Pins) {
			name, ok := cutKind(key, kind)
			if !ok {
				continue
			}
			if d, ok := listed[name]; ok && d != up.Pins[key] {
				add(name, up.path, SeverityError, "%s %s: the listed definition (%s) differs from its pin (%s): the gateway hides and refuses it; review with `legant registry diff`",
					kind, name, d, up.Pins[key])
			}
		}
	}
	return out
}

func cutKind(key, kind string) (string, bool) {
	if len(key) > len(kind) && key[:len(kind)+1] == kind+":" {
		return key[len(kind)+1:], true
	}
	return "", false
}

func joinTokens(t []string) string {
	var b bytes.Buffer
	for i, s := range t {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
