// Package vectors generates authority/testdata/vectors.json, the conformance
// vectors for delegation tokens: verification cases (every error kind) and
// authorization cases (every constraint), produced by the real signer with
// the fixed test keys of authority/testdata/keys and a fixed "now". The
// format is documented in authority/testdata/README.md.
package vectors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openlegant/legant/authority"
)

// File is the top level of vectors.json.
type File struct {
	Version     int    `json:"version"`
	Description string `json:"description"`
	Cases       []Case `json:"cases"`
}

// Case is one vector: verify Token with JWKS at Now under Options, expect
// Expect; when Action is set, then check it against the token's constraints
// and expect Authorize.
type Case struct {
	Name      string          `json:"name"`
	Token     string          `json:"token"`
	JWKS      json.RawMessage `json:"jwks"`
	Now       string          `json:"now"`
	Options   Options         `json:"options"`
	Expect    Expect          `json:"expect"`
	Action    *Action         `json:"action,omitempty"`
	Authorize *Authorize      `json:"authorize,omitempty"`
}

// Options are the verifier's settings. LeewaySeconds is exact (0 = none).
type Options struct {
	Issuer        string   `json:"issuer"`
	Audience      string   `json:"audience"`
	LeewaySeconds int      `json:"leeway_seconds"`
	RequireActor  bool     `json:"require_actor"`
	Algorithms    []string `json:"algorithms"`
}

// Expect holds exactly one of Error (an error kind) or Claims.
type Expect struct {
	Error  string   `json:"error,omitempty"`
	Claims *Summary `json:"claims,omitempty"`
}

// Summary is what a verifier must read out of a valid token.
type Summary struct {
	Issuer       string          `json:"iss"`
	Subject      string          `json:"sub"`
	Audience     []string        `json:"aud"`
	ExpiresAt    string          `json:"exp"`
	IssuedAt     string          `json:"iat,omitempty"`
	ID           string          `json:"jti,omitempty"`
	ClientID     string          `json:"client_id,omitempty"`
	Scopes       []string        `json:"scopes"`
	Chain        []string        `json:"chain"`
	Provenance   string          `json:"provenance"`
	Principal    string          `json:"principal"`
	DelegationID string          `json:"delegation_id,omitempty"`
	ParentID     string          `json:"parent_delegation_id,omitempty"`
	Constraints  json.RawMessage `json:"authorization_details"`
}

// Action is one call to authorize. Amount is {value, currency} or absent.
type Action struct {
	Tool     string  `json:"tool"`
	Amount   *Amount `json:"amount,omitempty"`
	Category string  `json:"category,omitempty"`
	Resource string  `json:"resource,omitempty"`
	At       string  `json:"at"`
}

// Amount is a decimal string with an optional currency.
type Amount struct {
	Value    string `json:"value"`
	Currency string `json:"currency,omitempty"`
}

// Authorize is the expected decision: Allow, or the refusing Constraint.
type Authorize struct {
	Allow      bool   `json:"allow"`
	Constraint string `json:"constraint,omitempty"`
}

// Summarize builds the Summary of verified claims.
func Summarize(c *authority.Claims) (*Summary, error) {
	detail, err := json.Marshal(c.Constraints)
	if err != nil {
		return nil, err
	}
	s := &Summary{
		Issuer: c.Issuer, Subject: c.Subject, Audience: nonNil(c.Audience),
		ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339), ID: c.ID, ClientID: c.ClientID,
		Scopes: nonNil(c.Scopes), Chain: nonNil(c.Chain()), Provenance: c.Provenance(), Principal: c.Principal(),
		DelegationID: c.DelegationID, ParentID: c.ParentID, Constraints: detail,
	}
	if !c.IssuedAt.IsZero() {
		s.IssuedAt = c.IssuedAt.UTC().Format(time.RFC3339)
	}
	return s, nil
}

func nonNil[S ~[]string](s S) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Generate returns the content of vectors.json, using the PEM keys in
// keysDir. The output is deterministic: Ed25519 and RSASSA-PKCS1-v1_5
// signatures are, and the clock is fixed.
func Generate(keysDir string) ([]byte, error) {
	g, err := newGenerator(keysDir)
	if err != nil {
		return nil, err
	}
	cases, err := g.cases()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(File{
		Version:     1,
		Description: "Legant delegation token conformance vectors; see README.md beside this file.",
		Cases:       cases,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func loadKey(dir, file, kid string) (*authority.Key, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	k, err := authority.ParsePrivateKeyPEM(kid, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}
