package policy

import (
	"encoding/json"
	"time"

	"github.com/openlegant/legant/authority"
)

// PromptBinding is what the registry knows about one prompt of an upstream:
// the scope a caller needs and which prompt arguments policy checks against
// the token's constraints. Prompt arguments are strings, so a prompt binds a
// category or a resource, not an amount. A nil *PromptBinding means the
// prompt is not registered: invisible and unusable.
type PromptBinding struct {
	Prompt   string
	Scope    string  // required scope; "" means holding a valid token
	Category Pointer // zero = no category argument
	Resource *ResourceBinding
}

// PromptVisible reports whether the token may see (and so get, with some
// arguments) a prompt: the registry binds it and the token holds its scope.
func PromptVisible(c *authority.Claims, b *PromptBinding) bool {
	return c != nil && b != nil && (b.Scope == "" || c.HasScope(b.Scope))
}

// DecidePrompt decides a prompts/get of prompt name with the raw arguments
// object (nil or null mean {}) at instant at. It checks, in order: a verified
// token, the binding (prompt_not_bound), its scope (insufficient_scope), the
// arguments (a strict JSON object), category, resource and time window —
// the same checks, reasons and messages as Decide for a tool. Pure and safe
// for concurrent use.
func DecidePrompt(c *authority.Claims, b *PromptBinding, name string, arguments json.RawMessage, at time.Time) Decision {
	var d Decision
	switch {
	case c == nil:
		return Deny(ReasonUnauthenticated, "no verified token")
	case b == nil || (b.Prompt != "" && b.Prompt != name):
		d = Deny(ReasonPromptNotBound, "prompt %s is not registered for this upstream", shorten(name))
		d.Value = shorten(name)
		return d
	case b.Scope != "" && !c.HasScope(b.Scope):
		d = Deny(ReasonInsufficientScope, "prompt %s requires scope %s", name, b.Scope)
		d.Constraint, d.Limit = "scope", b.Scope
		return d
	}
	args, aerr := argumentsObject(arguments, false)
	if aerr != nil {
		return invalid(aerr)
	}
	cons := &c.Constraints
	if !checkCategory(&d, cons, b.Category, args) ||
		!checkResource(&d, cons, b.Resource, args) ||
		!checkWindow(&d, cons, nil, at) {
		return d
	}
	d.Allow, d.Reason = true, ReasonAllowed
	return d
}

// CompletionRef is the ref of a completion/complete request: a prompt by
// name ("ref/prompt") or a resource template by URI ("ref/resource").
type CompletionRef struct {
	Type string // "ref/prompt" or "ref/resource"
	Name string // the prompt's name
	URI  string // the resource template
}

// DecideCompletion decides a completion/complete: it is allowed only for a
// prompt the token may see (prompt is the registry's binding for ref.Name,
// nil when none) or a resource template it may see (under grants). Anything
// else is refused with completion_ref: completing the arguments of a hidden
// prompt or template would reveal it.
func DecideCompletion(c *authority.Claims, prompt *PromptBinding, grants ResourceGrants, ref CompletionRef) Decision {
	if c == nil {
		return Deny(ReasonUnauthenticated, "no verified token")
	}
	var d Decision
	switch ref.Type {
	case "ref/prompt":
		if PromptVisible(c, prompt) && prompt.Prompt == ref.Name {
			return Decision{Allow: true, Reason: ReasonAllowed}
		}
		d = Deny(ReasonCompletionRef, "completion for prompt %s is not allowed", shorten(ref.Name))
		d.Value = shorten(ref.Name)
	case "ref/resource":
		if TemplateVisible(c, grants, ref.URI) {
			return Decision{Allow: true, Reason: ReasonAllowed}
		}
		d = Deny(ReasonCompletionRef, "completion for resource template %s is not allowed", shorten(ref.URI))
		d.Value = shorten(ref.URI)
	default:
		d = Deny(ReasonCompletionRef, "completion ref type %q is not one the gateway can authorize", shorten(ref.Type))
		d.Value = shorten(ref.Type)
	}
	return d
}
