package authority

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Actor is one link of the RFC 8693 §4.1 "act" claim. The outermost Actor
// is the most recent actor; its Actor field is the one who delegated to it.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	// Confirmation records the key this hop held when it was delegated to
	// (the thumbprint its token was bound to), so the chain shows each
	// hop's key; nil when the hop's token was a bearer token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
	Actor        *Actor        `json:"act,omitempty"`
}

// NewActor builds the act claim for agents listed oldest first:
// NewActor("planner", "executor") is executor acting for planner. It
// returns nil when no subject is given.
func NewActor(subjects ...string) *Actor {
	var a *Actor
	for _, s := range subjects {
		a = &Actor{Subject: s, Actor: a}
	}
	return a
}

// clone returns a deep copy of a.
func (a *Actor) clone() *Actor {
	if a == nil {
		return nil
	}
	out := &Actor{Subject: a.Subject, ClientID: a.ClientID, Actor: a.Actor.clone()}
	if a.Confirmation != nil {
		cnf := *a.Confirmation
		out.Confirmation = &cnf
	}
	return out
}

// Chain lists the agents of a delegation from the first delegate to the
// most recent actor.
type Chain []string

// chainOf walks an act claim, outermost (most recent) first, and returns
// the subjects oldest first.
func chainOf(a *Actor) Chain {
	var c Chain
	for ; a != nil; a = a.Actor {
		c = append(c, a.Subject)
	}
	slices.Reverse(c)
	return c
}

// String returns "agent:planner → agent:executor".
func (c Chain) String() string {
	parts := make([]string, len(c))
	for i, s := range c {
		parts[i] = "agent:" + s
	}
	return strings.Join(parts, " → ")
}

// Contains reports whether sub is one of the agents.
func (c Chain) Contains(sub string) bool { return slices.Contains(c, sub) }

// principalEscaper keeps Principal unambiguous when a subject contains "|".
var principalEscaper = strings.NewReplacer("%", "%25", "|", "%7C")

// principal joins the user and the chain with "|", escaping "%" and "|".
func principal(user string, c Chain) string {
	parts := make([]string, 0, len(c)+1)
	parts = append(parts, principalEscaper.Replace(user))
	for _, s := range c {
		parts = append(parts, principalEscaper.Replace(s))
	}
	return strings.Join(parts, "|")
}

// UnmarshalJSON decodes one act link with exact key names ("sub",
// "client_id", "act"); duplicate keys are errors, unknown keys are ignored
// (RFC 8693 allows other claims in act).
func (a *Actor) UnmarshalJSON(data []byte) error {
	fields, err := decodeObject(data)
	if err != nil {
		return fmt.Errorf("act: %w", err)
	}
	var out Actor
	if raw, ok := fields["sub"]; ok {
		if err := json.Unmarshal(raw, &out.Subject); err != nil {
			return fmt.Errorf("act.sub: %w", err)
		}
	}
	if raw, ok := fields["client_id"]; ok {
		if err := json.Unmarshal(raw, &out.ClientID); err != nil {
			return fmt.Errorf("act.client_id: %w", err)
		}
	}
	if raw, ok := fields["cnf"]; ok {
		if out.Confirmation, err = decodeConfirmation(raw); err != nil {
			return fmt.Errorf("act.cnf: %w", err)
		}
	}
	if raw, ok := fields["act"]; ok {
		if err := json.Unmarshal(raw, &out.Actor); err != nil {
			return err
		}
	}
	*a = out
	return nil
}
