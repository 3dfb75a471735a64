package vectors

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/openlegant/legant/authority"
)

// The fixed setting of every vector.
const (
	issuer   = "https://issuer.example"
	audience = "https://gw.example/mcp/expenses"
	leeway   = 30
)

// now is Wednesday 2026-03-04 10:30 in Paris (before the DST change).
var now = time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC)

type generator struct {
	ed, rsa, other *authority.Key
	jwks           json.RawMessage
}

func newGenerator(dir string) (*generator, error) {
	var g generator
	var err error
	if g.ed, err = loadKey(dir, "ed25519.pem", "test-ed25519"); err != nil {
		return nil, err
	}
	if g.rsa, err = loadKey(dir, "rsa2048.pem", "test-rsa2048"); err != nil {
		return nil, err
	}
	if g.other, err = loadKey(dir, "other-ed25519.pem", "test-other"); err != nil {
		return nil, err
	}
	ks := authority.NewKeySet()
	ks.Add(g.ed, time.Time{})
	ks.Add(g.rsa, time.Time{})
	if g.jwks, err = ks.JWKS(now); err != nil {
		return nil, err
	}
	return &g, nil
}

// baseClaims is the root delegation: alice to the planner.
func baseClaims() *authority.Claims {
	w, err := authority.ParseWindowSpec("mon-fri 09:00-17:00 Europe/Paris")
	if err != nil {
		panic(err)
	}
	calls := int64(20)
	return &authority.Claims{
		Issuer: issuer, Subject: "alice", Audience: []string{audience},
		IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour),
		ID: "tok-1", ClientID: "planner-client", Scopes: []string{"expenses:read", "expenses:write"},
		Actor: authority.NewActor("planner"), DelegationID: "dlg-1",
		Constraints: authority.Constraints{
			Tools:      authority.Only("submit_expense", "list_expenses"),
			Resources:  authority.Only("https://files.example/receipts"),
			Categories: authority.Only("travel", "meals"),
			MaxAmount:  &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"},
			Budget:     &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"},
			MaxCalls:   &calls,
			Window:     &w,
		},
	}
}

func (g *generator) verifyCase(name, token string, opts Options, want string) (Case, error) {
	c := Case{Name: name, Token: token, JWKS: g.jwks, Now: now.Format(time.RFC3339), Options: opts}
	if want != "" {
		c.Expect.Error = want
		return c, nil
	}
	claims, err := authority.Verify(token, mustJWKS(g.jwks), authority.VerifyOptions{
		Issuer: opts.Issuer, Audience: opts.Audience, Leeway: time.Duration(opts.LeewaySeconds) * time.Second,
		RequireActor: opts.RequireActor, Algorithms: opts.Algorithms,
	}, now)
	if err != nil {
		return Case{}, err
	}
	c.Expect.Claims, err = Summarize(claims)
	return c, err
}

func mustJWKS(data []byte) *authority.KeySet {
	ks, err := authority.ParseJWKS(data)
	if err != nil {
		panic(err)
	}
	return ks
}

func defaultOptions() Options {
	return Options{Issuer: issuer, Audience: audience, LeewaySeconds: leeway, RequireActor: true,
		Algorithms: []string{authority.AlgEdDSA, authority.AlgRS256}}
}

// cases lists every vector, verification cases first.
func (g *generator) cases() ([]Case, error) {
	tokens, err := g.tokens()
	if err != nil {
		return nil, err
	}
	var out []Case
	for _, v := range g.verifyTable(tokens) {
		c, err := g.verifyCase(v.name, v.token, v.opts, v.want)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	for _, a := range authorizeTable() {
		c, err := g.verifyCase("authorize: "+a.name, tokens["root"], defaultOptions(), "")
		if err != nil {
			return nil, err
		}
		act, exp := a.action, a.want
		c.Action, c.Authorize = &act, &exp
		out = append(out, c)
	}
	return out, nil
}

// tokens signs every token the table needs.
func (g *generator) tokens() (map[string]string, error) {
	t := map[string]string{}
	sign := func(name string, k *authority.Key, edit func(*authority.Claims)) error {
		c := baseClaims()
		if edit != nil {
			edit(c)
		}
		tok, err := authority.Sign(k, c)
		t[name] = tok
		return err
	}
	steps := []error{
		sign("root", g.ed, nil),
		sign("rsa", g.rsa, func(c *authority.Claims) { c.ID = "tok-rsa" }),
		sign("expired", g.ed, func(c *authority.Claims) { c.IssuedAt, c.ExpiresAt = now.Add(-2*time.Hour), now.Add(-time.Hour) }),
		sign("in-leeway", g.ed, func(c *authority.Claims) { c.IssuedAt, c.ExpiresAt = now.Add(-time.Hour), now.Add(-10*time.Second) }),
		sign("not-yet", g.ed, func(c *authority.Claims) { c.NotBefore = now.Add(10 * time.Minute) }),
		sign("other-key", g.other, nil),
		sign("no-act", g.ed, func(c *authority.Claims) { c.Actor = nil }),
		sign("other-payload", g.ed, func(c *authority.Claims) { c.Subject = "mallory" }),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	return g.craftedTokens(t)
}

// craftedTokens adds the multi-hop token and the forged ones.
func (g *generator) craftedTokens(t map[string]string) (map[string]string, error) {
	child, err := authority.Attenuate(baseClaims(), authority.Request{
		Actor: "executor", ID: "tok-2", DelegationID: "dlg-2", IssuedAt: now.Add(-30 * time.Second),
		Scopes: []string{"expenses:write"},
		Constraints: authority.Constraints{
			Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(), Categories: authority.Only("Travel", "lodging"),
			MaxAmount: &authority.Money{Value: authority.MustDecimal("200")},
		},
	}, authority.AttenuateOptions{})
	if err != nil {
		return nil, err
	}
	if t["multi-hop"], err = authority.Sign(g.ed, child); err != nil {
		return nil, err
	}
	if t["wrong-typ"], err = authority.SignJWS(g.ed, "JWT", baseClaims()); err != nil {
		return nil, err
	}
	root := strings.Split(t["root"], ".")
	t["bad-signature"] = root[0] + "." + strings.Split(t["other-payload"], ".")[1] + "." + root[2]
	t["alg-none"] = unsigned(map[string]string{"alg": "none", "kid": "test-ed25519", "typ": "at+jwt"}, root[1])
	if t["hs256-rsa-public"], err = hmacWithPublicKey(g.rsa, root[1]); err != nil {
		return nil, err
	}
	if t["hs256-ed25519-public"], err = hmacWithPublicKey(g.ed, root[1]); err != nil {
		return nil, err
	}
	t["unknown-detail-key"], err = rawSigned(g.ed, `{"iss":"`+issuer+`","sub":"alice","aud":"`+audience+
		`","exp":`+itoa(now.Add(time.Hour).Unix())+`,"act":{"sub":"planner"},`+
		`"authorization_details":[{"type":"legant_delegation","actions":["submit_expense"],"max_amount_per_day":"1"}]}`)
	return t, err
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func unsigned(h map[string]string, payload string) string {
	hb, _ := json.Marshal(h)
	return base64.RawURLEncoding.EncodeToString(hb) + "." + payload + "."
}

// hmacWithPublicKey forges the classic key-confusion token: HS256 keyed
// with the issuer's public key (PEM for RSA, raw bytes for Ed25519).
func hmacWithPublicKey(k *authority.Key, payload string) (string, error) {
	var secret []byte
	if k.Algorithm() == authority.AlgRS256 {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			return "", err
		}
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	} else if pub, ok := k.Public().(ed25519.PublicKey); ok {
		secret = pub
	}
	hb, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": k.ID(), "typ": "at+jwt"})
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + payload
	sig, err := jwt.SigningMethodHS256.Sign(signing, secret)
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// rawSigned signs an arbitrary at+jwt payload with golang-jwt directly, for
// tokens the real signer refuses to produce (bad constraints).
func rawSigned(k *authority.Key, payload string) (string, error) {
	hb, _ := json.Marshal(map[string]string{"alg": k.Algorithm(), "kid": k.ID(), "typ": "at+jwt"})
	signing := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	pemBytes, err := k.MarshalPrivatePEM()
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(pemBytes)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	sig, err := jwt.GetSigningMethod(k.Algorithm()).Sign(signing, priv)
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
