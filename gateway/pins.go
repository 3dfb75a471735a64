package gateway

// Pinned definitions (upstreams/pin.go): every tool, prompt and resource
// template list the gateway relays is checked against the registry's pins.
// An item whose definition's digest differs from its pin is left out of the
// list, the change is audited once (both digests), and the object is
// refused (data.reason definition_changed) until the upstream lists the
// pinned definition again or the pin is approved (`legant registry
// approve`). An object the gateway has not seen listed since it started is
// not refused: no client saw a changed definition through the gateway.

import (
	"sync"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/upstreams"
)

// pinKinds maps a list member to the kind of its pinned items.
var pinKinds = map[string]string{
	"tools":             upstreams.PinTool,
	"prompts":           upstreams.PinPrompt,
	"resourceTemplates": upstreams.PinTemplate,
}

// observedDefinitions remembers, per upstream and pinned object, the digest
// of the definition last listed. Safe for concurrent use.
type observedDefinitions struct {
	mu   sync.Mutex
	last map[string]string // slug \x00 kind:name → digest last listed
}

// observe records digest as the last listed definition of key, and reports
// whether it differs from what was last recorded (true the first time).
func (o *observedDefinitions) observe(key, digest string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[string]string{}
	}
	prev, seen := o.last[key]
	o.last[key] = digest
	return !seen || prev != digest
}

// lastListed returns the digest last listed for key.
func (o *observedDefinitions) lastListed(key string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, ok := o.last[key]
	return d, ok
}

// pinnedItemVisible checks a listed item of list member against its pin:
// true when unpinned or when its definition matches. A definition that
// differs is audited when it is new (once per change, not per list).
func (g *Gateway) pinnedItemVisible(ex *exchange, up *upstreams.Upstream, member, name string, item []byte) bool {
	kind, ok := pinKinds[member]
	if !ok {
		return true
	}
	pin, ok := up.Pin(kind, name)
	if !ok {
		return true
	}
	digest, err := upstreams.DefinitionDigest(kind, item)
	if err != nil {
		digest = "unreadable"
	}
	if g.definitions.observe(up.Slug+"\x00"+kind+":"+name, digest) && digest != pin {
		g.record(withPrincipal(audit.Event{Kind: audit.KindDefinitionChanged, Upstream: up.Slug, Tool: name,
			Decision: "deny", Reason: string(policy.ReasonDefinitionChanged), Constraint: kind, Limit: pin, Value: digest}, ex.claims))
		g.log.Warn("an upstream lists a definition that differs from its pin; the object is hidden and refused",
			"upstream", up.Slug, "kind", kind, "name", name, "pin", pin, "listed", digest)
	}
	return digest == pin
}

// refuseChanged refuses a request on a pinned object whose last listed
// definition differs from its pin; nil when it may go on.
func (g *Gateway) refuseChanged(ex *exchange, m *message, kind, name string) []byte {
	pin, ok := ex.up.Pin(kind, name)
	if !ok {
		return nil
	}
	last, seen := g.definitions.lastListed(ex.up.Slug + "\x00" + kind + ":" + name)
	if !seen || last == pin {
		return nil
	}
	d := policy.Deny(policy.ReasonDefinitionChanged, "the upstream's definition of %s %s changed since it was pinned; an operator must review and approve it", kind, name)
	d.Constraint, d.Limit, d.Value = "pin", pin, last
	return g.refuse(ex, m, d, name)
}
