package bench

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

// Issuer is the "iss" of every bench token.
const Issuer = "https://issuer.legant-bench.invalid"

// TokenOptions shapes a bench delegation token.
type TokenOptions struct {
	Audience string           // the gateway's inbound audience for the upstream; required
	Tools    authority.Set    // the tools the token may call; the zero Set (deny-all) means unrestricted here
	TTL      time.Duration    // zero means one hour
	Budget   *authority.Money // the delegation's budget (nil: none)
}

// Token signs a delegation token (user "bench-user", agent "bench-agent",
// scope Scope) with key, as the issuer would.
func Token(key *authority.Key, o TokenOptions, now time.Time) (string, error) {
	c := authority.Unrestricted()
	if !o.Tools.Empty() {
		c.Tools = o.Tools
	}
	c.Budget = o.Budget
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	id := authority.NewID()
	return authority.Sign(key, &authority.Claims{
		Issuer: Issuer, Subject: "bench-user", Audience: []string{o.Audience},
		IssuedAt: now, ExpiresAt: now.Add(o.TTL), ID: "bench-" + id, ClientID: "legant-bench",
		Scopes: []string{Scope}, Actor: &authority.Actor{Subject: "bench-agent"},
		DelegationID: "del-" + id, Constraints: c,
	})
}

// issuerKeys creates the issuer key directory a child `legant gateway`
// trusts (--keys) and returns its key set and signing key.
func issuerKeys(dir string) (*authority.KeySet, *authority.Key, error) {
	if _, err := keydir.Init(dir, keydir.Ed25519, nil); err != nil {
		return nil, nil, fmt.Errorf("issuer keys: %w", err)
	}
	ks, err := keydir.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer keys: %w", err)
	}
	k, err := ks.Signer()
	if err != nil {
		return nil, nil, fmt.Errorf("issuer keys: %w", err)
	}
	return ks, k, nil
}

// audience is the inbound audience the gateway at base gives slug.
func audience(base, slug string) string { return base + "/mcp/" + slug }

func keysDir(tmp string) string { return filepath.Join(tmp, "issuer-keys") }
