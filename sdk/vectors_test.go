package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
)

// vectorFile is authority/testdata/vectors.json (format in its README.md),
// read independently of authority's internal generator.
type vectorFile struct {
	Version int          `json:"version"`
	Cases   []vectorCase `json:"cases"`
}

type vectorCase struct {
	Name    string          `json:"name"`
	Token   string          `json:"token"`
	JWKS    json.RawMessage `json:"jwks"`
	Now     string          `json:"now"`
	Options struct {
		Issuer        string   `json:"issuer"`
		Audience      string   `json:"audience"`
		LeewaySeconds int      `json:"leeway_seconds"`
		RequireActor  bool     `json:"require_actor"`
		Algorithms    []string `json:"algorithms"`
	} `json:"options"`
	Expect struct {
		Error  string `json:"error"`
		Claims *struct {
			Subject    string   `json:"sub"`
			ID         string   `json:"jti"`
			Chain      []string `json:"chain"`
			Provenance string   `json:"provenance"`
			Principal  string   `json:"principal"`
		} `json:"claims"`
	} `json:"expect"`
	Action *struct {
		Tool   string `json:"tool"`
		Amount *struct {
			Value    string `json:"value"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Category string `json:"category"`
		Resource string `json:"resource"`
		At       string `json:"at"`
	} `json:"action"`
	Authorize *struct {
		Allow      bool   `json:"allow"`
		Constraint string `json:"constraint"`
	} `json:"authorize"`
}

var vectorErrors = map[string]error{
	"malformed": authority.ErrMalformed, "algorithm": authority.ErrAlgorithm, "unknown_key": authority.ErrUnknownKey,
	"signature": authority.ErrSignature, "expired": authority.ErrExpired, "not_yet_valid": authority.ErrNotYetValid,
	"issuer": authority.ErrIssuer, "audience": authority.ErrAudience, "missing_actor": authority.ErrMissingActor,
	"type": authority.ErrType, "constraints": authority.ErrConstraints,
}

// TestVectors runs the authority conformance vectors through the SDK's
// public API: each case's JWKS is served over HTTP, NewVerifier fetches it,
// Verify checks the token at the case's instant, and Authorize decides the
// case's action. The SDK always requires an actor (as the gateway does), so
// a case that verifies only without require_actor must fail with
// missing_actor here.
func TestVectors(t *testing.T) {
	data, err := os.ReadFile("../authority/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || len(f.Cases) < 30 {
		t.Fatalf("vectors version %d with %d cases", f.Version, len(f.Cases))
	}
	authorized := 0
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			claims := verifyVector(t, c)
			if claims == nil || c.Action == nil {
				return
			}
			authorized++
			authorizeVector(t, c, claims)
		})
	}
	if authorized < 15 {
		t.Fatalf("only %d authorize cases ran", authorized)
	}
}

func verifyVector(t *testing.T, c vectorCase) *authority.Claims {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r) // no revocation feed: the Verifier fails open
			return
		}
		w.Write(c.JWKS)
	}))
	defer srv.Close()
	now, err := time.Parse(time.RFC3339, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	leeway := time.Duration(c.Options.LeewaySeconds) * time.Second
	if leeway == 0 {
		leeway = -1 // the vectors' 0 means none
	}
	v, err := sdk.NewVerifier(context.Background(), c.Options.Issuer, c.Options.Audience, &sdk.VerifierOptions{
		JWKSURL: srv.URL + "/jwks", FeedURL: srv.URL + "/feed", AllowHTTP: true,
		Leeway: leeway, Algorithms: c.Options.Algorithms, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	claims, err := v.Verify(context.Background(), c.Token)
	wantErr := c.Expect.Error
	if wantErr == "" && !c.Options.RequireActor {
		wantErr = "missing_actor"
	}
	if wantErr != "" {
		if !errors.Is(err, vectorErrors[wantErr]) {
			t.Fatalf("Verify = %v, want %s", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := c.Expect.Claims
	got := struct {
		Subject, ID, Provenance, Principal string
		Chain                              []string
	}{claims.Subject, claims.ID, claims.Provenance(), claims.Principal(), claims.Chain()}
	if diff := cmp.Diff(struct {
		Subject, ID, Provenance, Principal string
		Chain                              []string
	}{want.Subject, want.ID, want.Provenance, want.Principal, want.Chain}, got); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	return claims
}

func authorizeVector(t *testing.T, c vectorCase, claims *authority.Claims) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, c.Action.At)
	if err != nil {
		t.Fatal(err)
	}
	a := sdk.Action{Tool: c.Action.Tool, Category: c.Action.Category, Resource: c.Action.Resource,
		ResourceKind: policy.ResourceURL, At: at}
	if c.Action.Amount != nil {
		a.Amount, a.Currency = c.Action.Amount.Value, c.Action.Amount.Currency
	}
	d := sdk.Authorize(claims, a)
	want := c.Authorize
	switch {
	case d.Allow != want.Allow:
		t.Fatalf("Authorize = %+v, want allow %v", d, want.Allow)
	case !want.Allow && d.Constraint != want.Constraint:
		t.Fatalf("Authorize denied on %q (%s), want %q", d.Constraint, d.Message, want.Constraint)
	}
}
