package authority_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/internal/vectors"
)

// errorKinds maps the error kinds of vectors.json to the sentinels.
var errorKinds = map[string]error{
	"malformed":     authority.ErrMalformed,
	"algorithm":     authority.ErrAlgorithm,
	"unknown_key":   authority.ErrUnknownKey,
	"signature":     authority.ErrSignature,
	"expired":       authority.ErrExpired,
	"not_yet_valid": authority.ErrNotYetValid,
	"issuer":        authority.ErrIssuer,
	"audience":      authority.ErrAudience,
	"missing_actor": authority.ErrMissingActor,
	"type":          authority.ErrType,
	"constraints":   authority.ErrConstraints,
}

func loadVectors(t *testing.T) vectors.File {
	t.Helper()
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f vectors.File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestVectors(t *testing.T) {
	f := loadVectors(t)
	if len(f.Cases) < 30 {
		t.Fatalf("only %d cases", len(f.Cases))
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			claims := verifyVector(t, c)
			if claims == nil || c.Action == nil {
				return
			}
			checkAuthorize(t, claims, *c.Action, *c.Authorize)
		})
	}
}

func verifyVector(t *testing.T, c vectors.Case) *authority.Claims {
	t.Helper()
	ks, err := authority.ParseJWKS(c.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse(time.RFC3339, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	leeway := time.Duration(c.Options.LeewaySeconds) * time.Second
	if leeway == 0 {
		leeway = -1 // the vectors' 0 means none
	}
	claims, err := authority.Verify(c.Token, ks, authority.VerifyOptions{
		Issuer: c.Options.Issuer, Audience: c.Options.Audience, Leeway: leeway,
		RequireActor: c.Options.RequireActor, Algorithms: c.Options.Algorithms,
	}, now)
	if c.Expect.Error != "" {
		want, ok := errorKinds[c.Expect.Error]
		if !ok {
			t.Fatalf("unknown error kind %q", c.Expect.Error)
		}
		if !errors.Is(err, want) {
			t.Fatalf("Verify error = %v, want %s", err, c.Expect.Error)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	got := summarize(t, claims)
	if diff := cmp.Diff(c.Expect.Claims, got, jsonValue); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	return claims
}

// jsonValue compares raw JSON by value, not by layout.
var jsonValue = cmp.Transformer("json", func(m json.RawMessage) any {
	var v any
	if err := json.Unmarshal(m, &v); err != nil {
		return string(m)
	}
	return v
})

// summarize is written against the public API, independently of the
// generator's Summarize.
func summarize(t *testing.T, c *authority.Claims) *vectors.Summary {
	detail, err := json.Marshal(c.Constraints)
	if err != nil {
		t.Fatal(err)
	}
	s := &vectors.Summary{
		Issuer: c.Issuer, Subject: c.Subject, Audience: append([]string{}, c.Audience...),
		ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339), ID: c.ID, ClientID: c.ClientID,
		Scopes: append([]string{}, c.Scopes...), Chain: append([]string{}, c.Chain()...),
		Provenance: c.Provenance(), Principal: c.Principal(),
		DelegationID: c.DelegationID, ParentID: c.ParentID, Constraints: detail,
	}
	if !c.IssuedAt.IsZero() {
		s.IssuedAt = c.IssuedAt.UTC().Format(time.RFC3339)
	}
	return s
}

func checkAuthorize(t *testing.T, claims *authority.Claims, a vectors.Action, want vectors.Authorize) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, a.At)
	if err != nil {
		t.Fatal(err)
	}
	action := authority.Action{Tool: a.Tool, Category: a.Category, Resource: a.Resource, At: at}
	if a.Amount != nil {
		v, err := authority.ParseDecimal(a.Amount.Value)
		if err != nil {
			t.Fatal(err)
		}
		action.Amount = &authority.Money{Value: v, Currency: a.Amount.Currency}
	}
	err = claims.Constraints.Allows(action)
	var ce *authority.ConstraintError
	switch {
	case want.Allow && err != nil:
		t.Fatalf("Allows = %v, want allow", err)
	case !want.Allow && !errors.As(err, &ce):
		t.Fatalf("Allows = %v, want a ConstraintError on %s", err, want.Constraint)
	case !want.Allow && ce.Constraint != want.Constraint:
		t.Fatalf("Allows refused on %s (%v), want %s", ce.Constraint, err, want.Constraint)
	}
}

// TestVectorsUpToDate regenerates the vectors in memory: run
// "go generate ./authority" when it fails.
func TestVectorsUpToDate(t *testing.T) {
	want, err := vectors.Generate("testdata/keys")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("testdata/vectors.json is stale; run: go generate ./authority\n%s", cmp.Diff(string(want), string(got)))
	}
}
