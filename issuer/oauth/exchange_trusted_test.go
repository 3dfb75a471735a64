package oauth_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestTrustedSubjectIssuer: a gateway (another issuer, its own key) trades
// a token it minted for this server for an access token of an MCP server
// this server protects. Accepted only from a trusted issuer, for this
// server's audience, unexpired, unbound, by a listed client, and never
// wider than the subject token.
func TestTrustedSubjectIssuer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		const gwIssuer = "https://gw.example/gateway"
		gwKey, err := authority.GenerateEd25519Key("gw-k1")
		if err != nil {
			t.Fatal(err)
		}
		gwKeys := authority.NewKeySet()
		gwKeys.Add(gwKey, time.Time{})
		otherKey, _ := authority.GenerateEd25519Key("gw-k1") // same kid, another key
		var logs bytes.Buffer
		h := newHarness(t, b, func(o *oauth.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
		gwClient, gwSecret := h.confidentialClient("Legant gateway")
		otherClient, otherSecret := h.confidentialClient("someone else")
		// The server is told to trust the gateway once its client exists
		// (same store: the clients stay).
		o := h.opts
		o.TrustedSubjectIssuers = []oauth.TrustedIssuer{{Issuer: gwIssuer, Keys: gwKeys, Clients: []string{gwClient}}}
		if h.as, err = oauth.New(o); err != nil {
			t.Fatal(err)
		}
		h2 := h

		now := time.Now()
		subject := func(edit func(*authority.Claims), key *authority.Key) string {
			c := &authority.Claims{Issuer: gwIssuer, Subject: testUser, Audience: []string{h.issuer}, IssuedAt: now,
				ExpiresAt: now.Add(10 * time.Minute), ID: authority.NewID(), DelegationID: "dlg_gw1", ClientID: "agent-1",
				Scopes: []string{"expenses:read"}, Actor: authority.NewActor("legant-gateway", "agent:agent-1"),
				Constraints: authority.Unrestricted()}
			if edit != nil {
				edit(c)
			}
			tok, err := authority.Sign(key, c)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		status, out := h2.token(exchangeForm(subject(nil, gwKey), h.resource, "expenses:read", ""), gwClient, gwSecret)
		if status != http.StatusOK {
			t.Fatalf("exchange = %d %v\n%s", status, out, logs.String())
		}
		got, err := h.verify(str(out, "access_token"))
		if err != nil || got.Subject != testUser || !got.Chain().Contains(gwClient) || !got.Chain().Contains("legant-gateway") ||
			strings.Join(got.Scopes, " ") != "expenses:read" || got.ExpiresAt.After(now.Add(10*time.Minute)) {
			t.Fatalf("exchanged token = %+v, %v", got, err)
		}
		if g, err := h.st.GetGrant(context.Background(), got.DelegationID); err != nil || g.User != testUser || g.ParentID != "" {
			t.Fatalf("grant of the exchanged token = %+v, %v", g, err)
		}

		refusals := []struct {
			name, token, client, secret, scope, code string
		}{
			{"untrusted issuer", subject(func(c *authority.Claims) { c.Issuer = "https://evil.example" }, gwKey), gwClient, gwSecret, "", "invalid_grant"},
			{"signed by another key", subject(nil, otherKey), gwClient, gwSecret, "", "invalid_grant"},
			{"audience of the gateway", subject(func(c *authority.Claims) { c.Audience = []string{"https://gw.example/mcp/x"} }, gwKey), gwClient, gwSecret, "", "invalid_grant"},
			{"audience of the resource", subject(func(c *authority.Claims) { c.Audience = []string{h.resource} }, gwKey), gwClient, gwSecret, "", "invalid_grant"},
			{"expired", subject(func(c *authority.Claims) { c.IssuedAt, c.ExpiresAt = now.Add(-time.Hour), now.Add(-10*time.Minute) }, gwKey), gwClient, gwSecret, "", "invalid_grant"},
			{"bound to a key", subject(func(c *authority.Claims) { c.Confirmation = &authority.Confirmation{JKT: "abc"} }, gwKey), gwClient, gwSecret, "", "invalid_grant"},
			{"client not listed", subject(nil, gwKey), otherClient, otherSecret, "", "unauthorized_client"},
			{"wider scope", subject(nil, gwKey), gwClient, gwSecret, "expenses:write", "invalid_scope"},
		}
		for _, tt := range refusals {
			status, out := h2.token(exchangeForm(tt.token, h.resource, tt.scope, ""), tt.client, tt.secret)
			if status == http.StatusOK || str(out, "error") != tt.code {
				t.Errorf("%s: %d %v, want %s", tt.name, status, out, tt.code)
			}
		}
		// Only the one exchange minted.
		evs, err := h.st.Audit().Query(context.Background(), store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		mints := 0
		for _, e := range evs {
			if e.Kind == audit.KindMint && e.Reason == oauth.GrantTokenExchange {
				mints++
			}
		}
		if mints != 1 {
			t.Errorf("token exchange mints = %d, want 1", mints)
		}
	})
}

func TestTrustedIssuerOptions(t *testing.T) {
	ks := authority.NewKeySet()
	for name, ti := range map[string]oauth.TrustedIssuer{
		"no keys":    {Issuer: "https://gw.example", Clients: []string{"c"}},
		"no clients": {Issuer: "https://gw.example", Keys: ks},
		"not a URL":  {Issuer: "gw", Keys: ks, Clients: []string{"c"}},
		"HS256 alg":  {Issuer: "https://gw.example", Keys: ks, Clients: []string{"c"}, Algorithms: []string{"HS256"}},
		"none alg":   {Issuer: "https://gw.example", Keys: ks, Clients: []string{"c"}, Algorithms: []string{"none"}},
	} {
		_, err := oauth.New(oauth.Options{Issuer: "https://as.example", Store: &store.Store{}, Keys: ks, Registry: emptyRegistry(t),
			TrustedSubjectIssuers: []oauth.TrustedIssuer{ti}})
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
