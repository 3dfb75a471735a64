package gateway

// Decide, for the MCP objects other than tools: resources (read, subscribe,
// unsubscribe), prompts (get) and completions. Each request is decided by its
// policy function against the registry's grants before it is forwarded; a
// refusal is answered here and audited, and nothing reaches the upstream.

import (
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// authorizeResource decides resources/read, resources/subscribe and
// resources/unsubscribe. It returns the error response of a refusal, nil
// when the request may be forwarded.
func (g *Gateway) authorizeResource(ex *exchange, m *message) []byte {
	p, ok := m.paramsStrict("uri")
	uri, isString := stringValue(p["uri"])
	if resp := g.refuseUnusable(ex, m, ok && isString, "uri", uri); resp != nil {
		return resp
	}
	grant := ex.up.Resources.For(uri)
	d := policy.DecideResource(ex.claims, grant, uri, policy.Call{At: g.now()})
	if !d.Allow {
		return g.refuse(ex, m, d, uri)
	}
	if grant.Template != nil {
		if resp := g.refuseChanged(ex, m, upstreams.PinTemplate, grant.Template.String()); resp != nil {
			return resp
		}
	}
	return g.allow(ex, m, uri)
}

// authorizePrompt decides prompts/get.
func (g *Gateway) authorizePrompt(ex *exchange, m *message) []byte {
	p, ok := m.paramsStrict("name", "arguments")
	name, isString := stringValue(p["name"])
	if resp := g.refuseUnusable(ex, m, ok && isString, "name", name); resp != nil {
		return resp
	}
	if resp := g.refuseChanged(ex, m, upstreams.PinPrompt, name); resp != nil {
		return resp
	}
	b, _ := ex.up.Prompt(name)
	d := policy.DecidePrompt(ex.claims, b, name, []byte(p["arguments"]), g.now())
	if !d.Allow {
		return g.refuse(ex, m, d, name)
	}
	return g.allow(ex, m, name)
}

// authorizeCompletion decides completion/complete: only for a prompt or a
// resource template the token may use.
func (g *Gateway) authorizeCompletion(ex *exchange, m *message) []byte {
	p, ok := m.paramsStrict("ref")
	r, refOK := strictParams(p["ref"], "type", "name", "uri")
	ref := policy.CompletionRef{}
	ref.Type, _ = stringValue(r["type"])
	ref.Name, _ = stringValue(r["name"])
	ref.URI, _ = stringValue(r["uri"])
	object := ref.Name + ref.URI
	if resp := g.refuseUnusable(ex, m, ok && refOK && p["ref"] != nil, "ref", object); resp != nil {
		return resp
	}
	kind, name := upstreams.PinPrompt, ref.Name
	if ref.Type == "ref/resource" {
		kind, name = upstreams.PinTemplate, ref.URI
	}
	if resp := g.refuseChanged(ex, m, kind, name); resp != nil {
		return resp
	}
	b, _ := ex.up.Prompt(ref.Name)
	d := policy.DecideCompletion(ex.claims, b, ex.up.Resources, ref)
	if !d.Allow {
		return g.refuse(ex, m, d, object)
	}
	return g.allow(ex, m, object)
}

// refuseUnusable refuses a request the gateway cannot decide: params that
// do not hold the member it decides on (or hold a case variant another
// decoder could read instead), or an audit log that cannot record the
// decision (fail closed). It returns nil when neither applies.
func (g *Gateway) refuseUnusable(ex *exchange, m *message, usable bool, member, object string) []byte {
	switch {
	case !usable:
		d := policy.Deny(policy.ReasonInvalidArgument, "%s params need a string %q and no member differing from a decided one only by case", m.method, member)
		d.Constraint, d.Argument = "arguments", "/"+member
		return g.refuse(ex, m, d, object)
	case !g.health.ok():
		return g.refuse(ex, m, policy.Deny(policy.ReasonUnavailable, "the audit log is unavailable; requests are refused until it recovers"), object)
	}
	return nil
}

// strictParams returns the members names of a params object (absent ones
// are missing from the map). ok is false when params is not an object or a
// member differs from one of names only by case: Go's encoding/json matches
// such keys too, so the upstream could act on another value than the one
// decided.
func strictParams(params jsontext.Value, names ...string) (map[string]jsontext.Value, bool) {
	out := map[string]jsontext.Value{}
	if params.Kind() != '{' {
		return out, false
	}
	dec := getDecoder(params)
	defer putDecoder(dec)
	dec.ReadToken()
	for dec.PeekKind() != '}' {
		k, err := dec.ReadToken()
		if err != nil {
			return out, false
		}
		key := k.String()
		v, err := readValue(dec, params)
		if err != nil {
			return out, false
		}
		for _, n := range names {
			switch {
			case key == n:
				out[n] = v
			case strings.EqualFold(key, n):
				return out, false
			}
		}
	}
	return out, true
}

// stringValue returns the Go string of a JSON string value; ok is false for
// nil or any other kind.
func stringValue(v jsontext.Value) (string, bool) {
	if v.Kind() != '"' {
		return "", false
	}
	return unquote(v), true
}
