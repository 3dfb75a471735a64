package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestOpenIDDiscovery: go-oidc accepts the issuer as an OpenID provider
// (it checks that the document's issuer is the URL it fetched).
func TestOpenIDDiscovery(t *testing.T) {
	h := newHarness(t, storetest.Backends(t)[0], nil)
	op, err := oidc.NewProvider(context.Background(), h.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var doc oauth.OpenIDConfiguration
	if err := op.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.UserinfoEndpoint != h.url("/oauth2/userinfo") || op.UserInfoEndpoint() != doc.UserinfoEndpoint ||
		!slices.Equal(doc.IDTokenSigningAlgValuesSupported, []string{"EdDSA"}) ||
		!slices.Equal(doc.SubjectTypesSupported, []string{"public"}) ||
		!slices.Contains(doc.ClaimsSupported, "email") || !slices.Contains(doc.ClaimsSupported, "at_hash") ||
		!slices.Contains(doc.ScopesSupported, "openid") || !slices.Contains(doc.GrantTypesSupported, "client_credentials") {
		t.Errorf("openid-configuration = %+v", doc)
	}
	// The RFC 8414 document has no OpenID fields.
	_, body := h.get(http.DefaultClient, h.url("/.well-known/oauth-authorization-server"))
	if strings.Contains(body, "userinfo_endpoint") {
		t.Errorf("oauth-authorization-server has OpenID fields: %s", body)
	}
}

// TestIDToken: openid on a delegation request adds an ID token (aud =
// client_id, nonce echoed, at_hash of the access token) that go-oidc
// verifies, and the access token reads /oauth2/userinfo.
func TestIDToken(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		ctx := context.Background()
		u, _ := h.st.GetUser(ctx, testUser)
		u.Email = "alice@example.com"
		if err := h.st.UpdateUser(ctx, *u); err != nil {
			t.Fatal(err)
		}
		id := h.publicClient()
		h.login(h.browser, testUser, testPassword)
		verifier, challenge := pkce()
		q := h.authParams(id, challenge)
		q.Set("scope", "openid email expenses:read")
		q.Set("nonce", "n-0S6_WzA2Mj")
		code := h.approve(h.browser, q, url.Values{"tool": {"list_expenses"}})
		status, out := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {loopbackCB}, "code_verifier": {verifier}}, id, "")
		if status != http.StatusOK || str(out, "id_token") == "" {
			t.Fatalf("token = %d %v", status, out)
		}
		op, err := oidc.NewProvider(ctx, h.issuer)
		if err != nil {
			t.Fatal(err)
		}
		idt, err := op.Verifier(&oidc.Config{ClientID: id, SupportedSigningAlgs: []string{oidc.EdDSA}}).Verify(ctx, str(out, "id_token"))
		if err != nil {
			t.Fatal(err)
		}
		if err := idt.VerifyAccessToken(str(out, "access_token")); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		var claims struct {
			Email         string `json:"email"`
			EmailVerified bool   `json:"email_verified"`
			AZP           string `json:"azp"`
			AuthTime      int64  `json:"auth_time"`
		}
		idt.Claims(&claims)
		if idt.Subject != testUser || idt.Nonce != "n-0S6_WzA2Mj" || claims.Email != "alice@example.com" ||
			!claims.EmailVerified || claims.AZP != id || claims.AuthTime == 0 {
			t.Errorf("id token: sub %s nonce %s claims %+v", idt.Subject, idt.Nonce, claims)
		}
		// Another client id is not the audience.
		if _, err := op.Verifier(&oidc.Config{ClientID: "someone-else"}).Verify(ctx, str(out, "id_token")); err == nil {
			t.Error("id token verified for another audience")
		}
		// The access token is still a delegation token for the gateway.
		c, err := h.verify(str(out, "access_token"))
		if err != nil || !c.Constraints.Tools.Contains("list_expenses") {
			t.Fatalf("access token: %+v %v", c, err)
		}
		ui, err := op.UserInfo(ctx, oauth2Static(str(out, "access_token")))
		if err != nil || ui.Subject != testUser || ui.Email != "alice@example.com" {
			t.Errorf("userinfo = %+v, %v", ui, err)
		}
		// Without openid: no ID token, and userinfo refuses the token.
		plain := h.codeToken(id, nil)
		if str(plain, "id_token") != "" {
			t.Error("id_token without openid")
		}
		req, _ := http.NewRequest(http.MethodGet, h.url("/oauth2/userinfo"), nil)
		req.Header.Set("Authorization", "Bearer "+str(plain, "access_token"))
		if resp, _ := do(t, http.DefaultClient, req); resp.StatusCode != http.StatusUnauthorized ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("userinfo without openid = %d", resp.StatusCode)
		}
	})
}

// TestClientCredentials: an agent acting for itself gets a token whose sub
// is its client id, with no act: not a delegation, which verification with
// RequireActor (the gateway's) refuses.
func TestClientCredentials(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		id, secret := h.register(map[string]any{"client_name": "Indexer", "grant_types": []string{"client_credentials"},
			"response_types": []string{}, "token_endpoint_auth_method": "client_secret_basic", "scope": "expenses:read"})
		status, out := h.token(url.Values{"grant_type": {"client_credentials"}, "resource": {h.resource}}, id, secret)
		if status != http.StatusOK {
			t.Fatalf("client_credentials = %d %v", status, out)
		}
		if _, err := h.verify(str(out, "access_token")); !errors.Is(err, authority.ErrMissingActor) {
			t.Errorf("gateway-style verification = %v, want ErrMissingActor", err)
		}
		c, err := authority.Verify(str(out, "access_token"), h.keys, authority.VerifyOptions{Issuer: h.issuer, Audience: h.resource}, time.Now())
		if err != nil || c.Subject != id || c.Actor != nil || c.DelegationID != "" || strings.Join(c.Scopes, " ") != "expenses:read" {
			t.Errorf("claims = %+v, %v", c, err)
		}
		if status, out := h.token(url.Values{"grant_type": {"client_credentials"}, "resource": {h.resource}, "scope": {"expenses:write"}}, id, secret); status != http.StatusBadRequest || str(out, "error") != "invalid_scope" {
			t.Errorf("unregistered scope = %d %v", status, out)
		}
		if status, out := h.token(url.Values{"grant_type": {"client_credentials"}, "resource": {h.resource}}, id, "wrong"); status != http.StatusUnauthorized {
			t.Errorf("wrong secret = %d %v", status, out)
		}
		if status, body := h.registerRaw(map[string]any{"grant_types": []string{"client_credentials"}, "response_types": []string{},
			"token_endpoint_auth_method": "none"}, ""); status != http.StatusBadRequest {
			t.Errorf("public client_credentials client registered: %d %s", status, body)
		}
		// A delegation client may not use the grant it did not register.
		pub := h.publicClient()
		if status, out := h.token(url.Values{"grant_type": {"client_credentials"}, "resource": {h.resource}}, pub, ""); status != http.StatusBadRequest || str(out, "error") != "unauthorized_client" {
			t.Errorf("unregistered grant = %d %v", status, out)
		}
	})
}

// TestAdminRole: an admin lists and revokes everyone's delegations; an
// ordinary user sees and revokes only their own.
func TestAdminRole(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		ctx := context.Background()
		hash, _ := oauth.HashPassword(testPassword)
		if err := h.st.CreateUser(ctx, store.User{Name: "bob", PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		id := h.publicClient()
		h.login(h.browser, testUser, testPassword)
		alice := h.codeToken(id, nil)
		ac, _ := h.verify(str(alice, "access_token"))

		bob := newBrowser()
		h.login(bob, "bob", testPassword)
		_, body := h.get(bob, h.url("/account/delegations?all=1"))
		if strings.Contains(body, ac.DelegationID) || strings.Contains(body, `id="all"`) {
			t.Error("an ordinary user sees alice's delegation")
		}
		_, page := h.get(bob, h.url("/account/delegations"))
		csrf := csrfField.FindStringSubmatch(page)[1]
		if resp, _ := h.postForm(bob, h.url("/account/delegations/revoke"), url.Values{"csrf": {csrf}, "id": {ac.DelegationID}}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob revoking alice's delegation = %d", resp.StatusCode)
		}
		if err := h.st.SetAdmin(ctx, "bob", true); err != nil {
			t.Fatal(err)
		}
		// SetAdmin ended bob's sessions: the role applies from the next login.
		if resp, _ := h.get(bob, h.url("/account/delegations")); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("bob's session survived the role change: %d", resp.StatusCode)
		}
		h.login(bob, "bob", testPassword)
		_, body = h.get(bob, h.url("/account/delegations?all=1"))
		if !strings.Contains(body, ac.DelegationID) {
			t.Fatal("the admin does not see alice's delegation")
		}
		csrf = csrfField.FindStringSubmatch(body)[1]
		if resp, _ := h.postForm(bob, h.url("/account/delegations/revoke"), url.Values{"csrf": {csrf}, "id": {ac.DelegationID}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("admin revoke = %d", resp.StatusCode)
		}
		if g, _ := h.st.GetGrant(ctx, ac.DelegationID); g.RevokedVersion == 0 {
			t.Error("not revoked")
		}
		// The role is in the ID token and userinfo claims.
		u, _ := h.st.GetUser(ctx, "bob")
		if !u.Admin {
			t.Error("bob is not admin in the store")
		}
	})
}

func oauth2Static(tok string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
}
