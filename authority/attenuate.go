package authority

import (
	"fmt"
	"slices"
	"time"
)

// DefaultMaxDepth is the longest agent chain Attenuate builds when
// AttenuateOptions.MaxDepth is zero.
const DefaultMaxDepth = 5

// Request asks Attenuate for a child delegation. Zero fields inherit from
// the parent; nothing in a Request can widen what the parent grants.
type Request struct {
	Actor        string   // the new actor: appended to the chain, outermost in act; required
	ClientID     string   // the new actor's OAuth client; "" keeps the parent's client_id
	Audience     []string // nil = the parent's; otherwise each must be one of the parent's
	Scopes       []string // nil = the parent's; a scope not in the parent is an error
	Constraints  Constraints
	ExpiresAt    time.Time // zero or later than the parent's = the parent's
	ID           string    // jti of the child
	DelegationID string    // id of the child delegation; its ParentID is the parent's DelegationID
	IssuedAt     time.Time // iat of the child; when set, the parent must not be expired at it
	// KeyThumbprint binds the child to the new actor's own DPoP key (RFC
	// 7638 thumbprint): the child's cnf.jkt, also recorded on its hop of the
	// act chain. "" makes a bearer child, which a bound parent refuses.
	KeyThumbprint string
}

// AttenuateOptions tune Attenuate. The zero value is the default.
type AttenuateOptions struct {
	MaxDepth int // longest agent chain; zero = DefaultMaxDepth
	// Strict refuses requested constraints looser than the parent's instead
	// of clamping them. A dimension left unrestricted in the request (nil,
	// AnyOf) still inherits the parent's. The CLI uses it so that a person
	// asking for more than the parent has is told so.
	Strict bool
}

// Attenuate derives a child delegation from parent. The child never holds
// more authority than the parent:
//
//   - tools, resources and categories are the intersection (disjoint
//     allow-lists give deny-all);
//   - max_amount, budget and max_calls are the smaller of the two; a child
//     amount in another currency than the parent's is refused, and a parent
//     without currency takes the child's;
//   - windows are intersected in the parent's zone: a child window in another
//     zone is refused (converting would drift across DST changes);
//   - audiences and scopes must be subsets of the parent's;
//   - expiry is the earlier of the two;
//   - the chain grows by one actor, who must not already be in it nor be the
//     user (no cycles), up to MaxDepth actors;
//   - a parent bound to a key (cnf.jkt) has only bound children: each bound
//     to its new actor's own key, recorded on its hop of the chain.
//
// Budgets and call counts are clamped as limits; what the parent already
// spent is state, and policy counts a child's spending against its ancestors.
// Refusals are *AttenuationError; bad constraints wrap ErrConstraints.
func Attenuate(parent *Claims, req Request, opts AttenuateOptions) (*Claims, error) {
	if parent == nil {
		return nil, &AttenuationError{Field: "parent", Msg: "no parent token"}
	}
	if err := checkNewActor(parent, req.Actor, opts.MaxDepth); err != nil {
		return nil, err
	}
	child := &Claims{
		Issuer: parent.Issuer, Subject: parent.Subject, NotBefore: parent.NotBefore,
		IssuedAt: req.IssuedAt, ID: req.ID, ClientID: parent.ClientID,
		DelegationID: req.DelegationID, ParentID: parent.DelegationID,
		Actor: &Actor{Subject: req.Actor, ClientID: req.ClientID, Actor: parent.Actor.clone()},
	}
	if req.ClientID != "" {
		child.ClientID = req.ClientID
	}
	switch {
	case req.KeyThumbprint != "":
		child.Confirmation = &Confirmation{JKT: req.KeyThumbprint}
		child.Actor.Confirmation = &Confirmation{JKT: req.KeyThumbprint}
	case parent.BoundKey() != "":
		return nil, &AttenuationError{Field: "cnf", Msg: "the parent token is bound to a key (DPoP): the child must be bound to the new actor's key"}
	}
	var err error
	if child.ExpiresAt, err = childExpiry(parent, req); err != nil {
		return nil, err
	}
	if child.Audience, err = narrowAudience(parent.Audience, req.Audience); err != nil {
		return nil, err
	}
	if child.Scopes, err = narrowScopes(parent.Scopes, req.Scopes); err != nil {
		return nil, err
	}
	if child.Constraints, err = narrowConstraints(parent.Constraints, req.Constraints, opts.Strict); err != nil {
		return nil, err
	}
	return child, nil
}

// checkNewActor enforces the chain rules: a named actor, no cycle, depth.
func checkNewActor(parent *Claims, actor string, maxDepth int) error {
	if maxDepth == 0 {
		maxDepth = DefaultMaxDepth
	}
	chain := parent.Chain()
	switch {
	case actor == "":
		return &AttenuationError{Field: "actor", Msg: "the new actor is required"}
	case actor == parent.Subject:
		return &AttenuationError{Field: "actor", Msg: fmt.Sprintf("actor %q is the user the chain acts for", actor)}
	case chain.Contains(actor):
		return &AttenuationError{Field: "actor", Msg: fmt.Sprintf("actor %q is already in the chain %s (cycle)", actor, chain)}
	case len(chain)+1 > maxDepth:
		return &AttenuationError{Field: "depth", Msg: fmt.Sprintf("chain of %d actors would exceed the limit of %d", len(chain)+1, maxDepth)}
	}
	return nil
}

func childExpiry(parent *Claims, req Request) (time.Time, error) {
	exp := parent.ExpiresAt
	if !req.ExpiresAt.IsZero() && (exp.IsZero() || req.ExpiresAt.Before(exp)) {
		exp = req.ExpiresAt
	}
	if !req.IssuedAt.IsZero() && !exp.IsZero() && !req.IssuedAt.Before(exp) {
		return time.Time{}, &AttenuationError{Field: "expires_at", Msg: fmt.Sprintf("the child would expire at %s, not after its issue time", exp.Format(time.RFC3339))}
	}
	return exp, nil
}

// narrowAudience returns the requested audiences, each of which must be one
// of the parent's (compared canonically); nil requests the parent's.
func narrowAudience(parent, req []string) ([]string, error) {
	if req == nil {
		return slices.Clone(parent), nil
	}
	if len(req) == 0 {
		return nil, &AttenuationError{Field: "audience", Msg: "an empty audience was requested"}
	}
	canonParent, _ := canonicalAudiences(parent)
	out, err := canonicalAudiences(req)
	if err != nil {
		return nil, &AttenuationError{Field: "audience", Msg: err.Error()}
	}
	for _, a := range out {
		if !slices.Contains(canonParent, a) {
			return nil, &AttenuationError{Field: "audience", Msg: fmt.Sprintf("audience %q is not granted by the parent token", a)}
		}
	}
	return out, nil
}

// narrowScopes returns the requested scopes, each of which must be granted
// by the parent; nil requests the parent's.
func narrowScopes(parent, req []string) ([]string, error) {
	if req == nil {
		return slices.Clone(parent), nil
	}
	var out []string
	for _, s := range req {
		if !slices.Contains(parent, s) {
			return nil, &AttenuationError{Field: "scope", Msg: fmt.Sprintf("scope %q is not granted by the parent token", s)}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
