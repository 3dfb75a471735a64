package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims are the claims of a delegation token: an RFC 9068 JWT access token
// with an RFC 8693 act chain and the Constraints in authorization_details.
// A zero time means the claim is absent. Claims is a plain value: not safe
// for concurrent mutation, safe for concurrent reads.
type Claims struct {
	Issuer       string
	Subject      string   // the user the agents act for
	Audience     []string // RFC 8707 resources, canonical
	ExpiresAt    time.Time
	IssuedAt     time.Time
	NotBefore    time.Time // zero = not set
	ID           string    // jti
	ClientID     string
	Scopes       []string // "scope" claim, space-separated on the wire
	Actor        *Actor   // "act"; nil for a token without delegation
	DelegationID string   // "delegation_id": the delegation (grant) this token derives from
	ParentID     string   // "parent_delegation_id": the delegation this one was attenuated from; "" for a root
	Constraints  Constraints
	// Confirmation is the RFC 7800 cnf claim. With a JKT the token is
	// sender-constrained (RFC 9449): it is honoured only with a DPoP proof
	// signed by that key. nil means a bearer token.
	Confirmation *Confirmation
}

// Confirmation is an RFC 7800 cnf claim, in the one form Legant honours: the
// RFC 7638 SHA-256 thumbprint of a DPoP key (RFC 9449 §6).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// BoundKey returns the thumbprint of the key the token is bound to, or ""
// for a bearer token.
func (c *Claims) BoundKey() string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

// Chain returns the agents from the act claim, oldest first.
func (c *Claims) Chain() Chain { return chainOf(c.Actor) }

// Provenance returns "user:alice → agent:planner → agent:executor".
func (c *Claims) Provenance() string {
	p := "user:" + c.Subject
	if ch := c.Chain(); len(ch) > 0 {
		p += " → " + ch.String()
	}
	return p
}

// HasScope reports whether s is one of the token's scopes.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scopes, s) }

// Principal returns a stable key for the user and the agent chain,
// "alice|planner|executor", for binding sessions to who acts for whom.
// "|" and "%" inside subjects are percent-escaped so keys never collide.
func (c *Claims) Principal() string { return principal(c.Subject, c.Chain()) }

// claimsWire is the JSON form; times are NumericDate seconds.
type claimsWire struct {
	Issuer               string            `json:"iss,omitempty"`
	Subject              string            `json:"sub,omitempty"`
	Audience             any               `json:"aud,omitempty"`
	ExpiresAt            *int64            `json:"exp,omitempty"`
	IssuedAt             *int64            `json:"iat,omitempty"`
	NotBefore            *int64            `json:"nbf,omitempty"`
	ID                   string            `json:"jti,omitempty"`
	ClientID             string            `json:"client_id,omitempty"`
	Scope                string            `json:"scope,omitempty"`
	Actor                *Actor            `json:"act,omitempty"`
	DelegationID         string            `json:"delegation_id,omitempty"`
	ParentID             string            `json:"parent_delegation_id,omitempty"`
	AuthorizationDetails []json.RawMessage `json:"authorization_details"`
	Confirmation         *Confirmation     `json:"cnf,omitempty"`
}

func numericDate(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	s := t.Unix()
	return &s
}

// MarshalJSON writes the registered claim names (iss, sub, aud as a string
// when there is one and an array otherwise, exp, iat, nbf, jti, client_id,
// scope, act, delegation_id, parent_delegation_id) and always one
// authorization_details entry carrying the Constraints.
func (c Claims) MarshalJSON() ([]byte, error) {
	detail, err := json.Marshal(c.Constraints)
	if err != nil {
		return nil, err
	}
	w := claimsWire{
		Issuer: c.Issuer, Subject: c.Subject,
		ExpiresAt: numericDate(c.ExpiresAt), IssuedAt: numericDate(c.IssuedAt), NotBefore: numericDate(c.NotBefore),
		ID: c.ID, ClientID: c.ClientID, Scope: strings.Join(c.Scopes, " "), Actor: c.Actor,
		DelegationID: c.DelegationID, ParentID: c.ParentID,
		AuthorizationDetails: []json.RawMessage{detail}, Confirmation: c.Confirmation,
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		w.Audience = c.Audience[0]
	default:
		w.Audience = c.Audience
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the form written by MarshalJSON. Unknown claims are
// ignored; duplicate claims and wrong types are errors. A missing
// authorization_details leaves the zero Constraints (deny-all); any entry of
// another type, or more than one legant_delegation entry, is an error
// wrapping ErrConstraints, because a token whose limits we cannot read must
// not be honoured.
func (c *Claims) UnmarshalJSON(data []byte) error {
	fields, err := decodeObject(data)
	if err != nil {
		return err
	}
	var out Claims
	for key, raw := range fields {
		if err := out.setField(key, raw); err != nil {
			if errors.Is(err, ErrConstraints) {
				return err
			}
			return fmt.Errorf("claim %s: %w", key, err)
		}
	}
	*c = out
	return nil
}

// setField decodes one claim into c; unknown claims are ignored.
func (c *Claims) setField(key string, raw json.RawMessage) error {
	var err error
	switch key {
	case "iss":
		err = json.Unmarshal(raw, &c.Issuer)
	case "sub":
		err = json.Unmarshal(raw, &c.Subject)
	case "aud":
		c.Audience, err = decodeAudience(raw)
	case "exp":
		c.ExpiresAt, err = decodeNumericDate(raw)
	case "iat":
		c.IssuedAt, err = decodeNumericDate(raw)
	case "nbf":
		c.NotBefore, err = decodeNumericDate(raw)
	case "jti":
		err = json.Unmarshal(raw, &c.ID)
	case "client_id":
		err = json.Unmarshal(raw, &c.ClientID)
	case "scope":
		c.Scopes, err = decodeScope(raw)
	case "act":
		err = json.Unmarshal(raw, &c.Actor)
	case "delegation_id":
		err = json.Unmarshal(raw, &c.DelegationID)
	case "parent_delegation_id":
		err = json.Unmarshal(raw, &c.ParentID)
	case "authorization_details":
		c.Constraints, err = decodeDetails(raw)
	case "cnf":
		c.Confirmation, err = decodeConfirmation(raw)
	}
	return err
}

// decodeConfirmation reads a cnf claim. A confirmation method other than
// jkt is an error: a token bound in a way Legant cannot check must not be
// honoured as a bearer token.
func decodeConfirmation(raw json.RawMessage) (*Confirmation, error) {
	fields, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	var c Confirmation
	for k, v := range fields {
		if k != "jkt" {
			return nil, fmt.Errorf("confirmation method %q is not supported (only jkt)", k)
		}
		if err := json.Unmarshal(v, &c.JKT); err != nil || c.JKT == "" {
			return nil, errors.New("jkt is not a non-empty string")
		}
	}
	if c.JKT == "" {
		return nil, errors.New("cnf has no jkt")
	}
	return &c, nil
}

func decodeAudience(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	many, err := decodeStrings(raw)
	if len(many) == 0 {
		many = nil
	}
	return many, err
}

func decodeScope(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if f := strings.Fields(s); len(f) > 0 {
		return f, nil
	}
	return nil, nil
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// decodeNumericDate reads seconds since the epoch; a fraction is truncated.
func decodeNumericDate(raw json.RawMessage) (time.Time, error) {
	s := string(raw)
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil && sec >= 0 && sec <= maxNumericDate {
		return time.Unix(sec, 0).UTC(), nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return time.Time{}, errors.New("not a NumericDate")
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, errors.New("NumericDate out of range")
	}
	return time.Unix(int64(f), 0).UTC(), nil
}

// decodeDetails finds the single legant_delegation entry.
func decodeDetails(raw json.RawMessage) (Constraints, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || entries == nil {
		return Constraints{}, fmt.Errorf("%w: authorization_details is not an array", ErrConstraints)
	}
	if len(entries) != 1 {
		return Constraints{}, fmt.Errorf("%w: want exactly one authorization_details entry of type %s, got %d entries", ErrConstraints, DetailType, len(entries))
	}
	var c Constraints
	if err := c.UnmarshalJSON(entries[0]); err != nil {
		return Constraints{}, err
	}
	return c, nil
}
