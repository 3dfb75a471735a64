package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

func TestMetadata(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, body := h.get(http.DefaultClient, h.url(path))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s = %d", path, resp.StatusCode)
		}
		var md oauth.Metadata
		if err := json.Unmarshal([]byte(body), &md); err != nil {
			t.Fatal(err)
		}
		if md.Issuer != h.issuer || md.TokenEndpoint != h.url("/oauth2/token") || md.JWKSURI != h.url("/.well-known/jwks.json") ||
			md.RegistrationEndpoint == "" || md.RevocationEndpoint == "" || md.IntrospectionEndpoint == "" ||
			!md.ClientIDMetadataDocumentSupported || strings.Join(md.CodeChallengeMethodsSupported, ",") != "S256" ||
			strings.Join(md.ResponseTypesSupported, ",") != "code" {
			t.Errorf("%s = %+v", path, md)
		}
		want := "email expenses:admin expenses:read expenses:write notes:read offline_access openid profile"
		if got := strings.Join(md.ScopesSupported, " "); got != want {
			t.Errorf("scopes_supported = %q, want %q", got, want)
		}
	}
}

func TestCodeFlow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		id := h.publicClient()
		if resp := h.login(h.browser, testUser, testPassword); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login = %d", resp.StatusCode)
		}
		out := h.codeToken(id, url.Values{"max_amount": {"200"}, "currency": {"USD"}, "categories": {"Travel, meals"}})
		if str(out, "token_type") != "Bearer" || str(out, "refresh_token") == "" || out["expires_in"].(float64) <= 0 {
			t.Fatalf("token response = %v", out)
		}
		c, err := h.verify(str(out, "access_token"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != testUser || c.Chain().String() != "agent:"+id || c.ClientID != id || c.DelegationID == "" ||
			strings.Join(c.Scopes, " ") != "expenses:read expenses:write" {
			t.Errorf("claims = %+v (%s)", c, c.Provenance())
		}
		if err := c.Constraints.Allows(authority.Action{Tool: "submit_expense", Category: "travel",
			Amount: &authority.Money{Value: authority.MustDecimal("300"), Currency: "USD"}, At: time.Now()}); err == nil ||
			!strings.Contains(err.Error(), "max_amount") {
			t.Errorf("300 USD allowed by the consented constraints: %v", err)
		}
		if c.Constraints.Tools.Contains("delete_all") || !c.Constraints.Tools.Contains("submit_expense") {
			t.Errorf("tools = %v", c.Constraints.Tools.Items())
		}
		g, err := h.st.GetGrant(context.Background(), c.DelegationID)
		if err != nil || g.User != testUser || g.Resource != h.resource {
			t.Fatalf("grant = %+v, %v", g, err)
		}
		// The consent and the mint are in the audit log.
		evs, err := h.st.Audit().Query(context.Background(), store.AuditFilter{User: testUser})
		if err != nil || len(evs) < 2 || evs[0].Kind != oauth.KindConsent || evs[1].Kind != audit.KindMint || evs[1].TokenID != c.ID {
			t.Errorf("audit = %+v, %v", evs, err)
		}
	})
}

func TestAuthorizeRefusals(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	id := h.publicClient()
	h.login(h.browser, testUser, testPassword)
	_, challenge := pkce()
	tests := []struct {
		name     string
		edit     func(url.Values)
		redirect bool   // the error goes back to the client
		code     string // error code (redirect) or text on the error page
	}{
		{"PKCE missing", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, true, "invalid_request"},
		{"PKCE plain", func(q url.Values) { q.Set("code_challenge_method", "plain") }, true, "invalid_request"},
		{"PKCE method missing", func(q url.Values) { q.Del("code_challenge_method") }, true, "invalid_request"},
		{"challenge malformed", func(q url.Values) { q.Set("code_challenge", "short") }, true, "invalid_request"},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, true, "unsupported_response_type"},
		{"resource missing", func(q url.Values) { q.Del("resource") }, true, "invalid_target"},
		{"resource unknown", func(q url.Values) { q.Set("resource", h.issuer+"/mcp/nope") }, true, "invalid_target"},
		{"two resources", func(q url.Values) { q.Add("resource", h.issuer+"/mcp/notes") }, true, "invalid_target"},
		{"scope of another upstream", func(q url.Values) { q.Set("scope", "notes:read") }, true, "invalid_scope"},
		{"redirect mismatch", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, false, "not registered"},
		{"redirect other path", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:7777/other") }, false, "not registered"},
		{"redirect missing", func(q url.Values) { q.Del("redirect_uri") }, false, "not registered"},
		{"unknown client", func(q url.Values) { q.Set("client_id", "lc_nope") }, false, "unknown client_id"},
		{"repeated redirect", func(q url.Values) { q.Add("redirect_uri", loopbackCB) }, false, "once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := h.authParams(id, challenge)
			tt.edit(q)
			resp, body := h.get(h.browser, h.url("/oauth2/authorize?"+q.Encode()))
			loc := resp.Header.Get("Location")
			if !tt.redirect {
				if resp.StatusCode != http.StatusBadRequest || loc != "" || !strings.Contains(body, tt.code) {
					t.Fatalf("= %d Location %q, want an error page saying %q:\n%s", resp.StatusCode, loc, tt.code, body)
				}
				return
			}
			u, _ := url.Parse(loc)
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, loopbackCB) || u.Query().Get("error") != tt.code ||
				u.Query().Get("state") != "st-1" || u.Query().Get("code") != "" {
				t.Fatalf("= %d Location %q, want %s sent back", resp.StatusCode, loc, tt.code)
			}
		})
	}
	t.Run("loopback any port", func(t *testing.T) {
		q := h.authParams(id, challenge)
		q.Set("redirect_uri", "http://127.0.0.1:51234/callback")
		if resp, body := h.get(h.browser, h.url("/oauth2/authorize?"+q.Encode())); resp.StatusCode != http.StatusOK {
			t.Fatalf("= %d %s", resp.StatusCode, body)
		}
	})
	t.Run("not logged in", func(t *testing.T) {
		resp, _ := h.get(newBrowser(), h.url("/oauth2/authorize?"+h.authParams(id, challenge).Encode()))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?return_to=%2Foauth2%2Fauthorize") {
			t.Fatalf("= %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("deny", func(t *testing.T) {
		resp, _ := h.consent(h.browser, h.authParams(id, challenge), url.Values{"decision": {"deny"}})
		u, _ := url.Parse(resp.Header.Get("Location"))
		if u.Query().Get("error") != "access_denied" {
			t.Fatalf("deny = %d %s", resp.StatusCode, u)
		}
	})
	t.Run("bad limits re-render the page", func(t *testing.T) {
		resp, body := h.consent(h.browser, h.authParams(id, challenge), url.Values{"decision": {"approve"},
			"tool": {"submit_expense"}, "ttl": {"8h"}, "max_amount": {"-5"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "non-negative") {
			t.Fatalf("= %d %s", resp.StatusCode, body)
		}
		resp, body = h.consent(h.browser, h.authParams(id, challenge), url.Values{"decision": {"approve"},
			"tool": {"delete_all"}, "ttl": {"8h"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not among the tools") {
			t.Fatalf("tool outside the scopes = %d %s", resp.StatusCode, body)
		}
	})
	t.Run("consent without CSRF", func(t *testing.T) {
		form := h.authParams(id, challenge)
		form.Set("decision", "approve")
		form.Set("tool", "list_expenses")
		form.Set("ttl", "8h")
		resp, _ := h.postForm(h.browser, h.url("/oauth2/authorize"), form)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Fatalf("= %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

func TestCodeSecurity(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		id := h.publicClient()
		h.login(h.browser, testUser, testPassword)
		redeem := func(code, verifier, redirect string) (int, map[string]any) {
			return h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {redirect}, "code_verifier": {verifier}}, id, "")
		}
		t.Run("replay revokes the tokens from the code", func(t *testing.T) {
			verifier, challenge := pkce()
			code := h.approve(h.browser, h.authParams(id, challenge), nil)
			status, out := redeem(code, verifier, loopbackCB)
			if status != http.StatusOK {
				t.Fatalf("first = %d %v", status, out)
			}
			claims, _ := h.verify(str(out, "access_token"))
			if _, revoked := h.st.Revocations().Revoked(claims); revoked {
				t.Fatal("revoked before the replay")
			}
			status, again := redeem(code, verifier, loopbackCB)
			if status != http.StatusBadRequest || str(again, "error") != "invalid_grant" || !strings.Contains(str(again, "error_description"), "revoked") {
				t.Fatalf("replay = %d %v", status, again)
			}
			if why, revoked := h.st.Revocations().Revoked(claims); !revoked {
				t.Fatal("the token issued from the replayed code is still valid")
			} else {
				t.Logf("revoked: %s", why)
			}
			status, rt := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(out, "refresh_token")}}, id, "")
			if status != http.StatusBadRequest || str(rt, "error") != "invalid_grant" {
				t.Fatalf("refresh after replay = %d %v", status, rt)
			}
		})
		t.Run("wrong verifier", func(t *testing.T) {
			_, challenge := pkce()
			code := h.approve(h.browser, h.authParams(id, challenge), nil)
			other, _ := pkce()
			other += "x"
			if status, out := redeem(code, other, loopbackCB); status != http.StatusBadRequest || str(out, "error") != "invalid_grant" {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("missing verifier", func(t *testing.T) {
			_, challenge := pkce()
			code := h.approve(h.browser, h.authParams(id, challenge), nil)
			if status, out := redeem(code, "", loopbackCB); status != http.StatusBadRequest || str(out, "error") != "invalid_grant" {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("redirect_uri mismatch", func(t *testing.T) {
			verifier, challenge := pkce()
			code := h.approve(h.browser, h.authParams(id, challenge), nil)
			if status, out := redeem(code, verifier, "http://127.0.0.1:7777/other"); status != http.StatusBadRequest ||
				!strings.Contains(str(out, "error_description"), "redirect_uri") {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("another client's code", func(t *testing.T) {
			verifier, challenge := pkce()
			code := h.approve(h.browser, h.authParams(id, challenge), nil)
			other := h.publicClient()
			status, out := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {loopbackCB}, "code_verifier": {verifier}}, other, "")
			if status != http.StatusBadRequest || str(out, "error") != "invalid_grant" {
				t.Fatalf("= %d %v", status, out)
			}
		})
		t.Run("refresh rotation and reuse", func(t *testing.T) {
			out := h.codeToken(id, nil)
			rt1 := str(out, "refresh_token")
			status, out2 := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, id, "")
			if status != http.StatusOK || str(out2, "refresh_token") == "" || str(out2, "refresh_token") == rt1 {
				t.Fatalf("rotate = %d %v", status, out2)
			}
			latest, _ := h.verify(str(out2, "access_token"))
			status, reuse := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, id, "")
			if status != http.StatusBadRequest || str(reuse, "error") != "invalid_grant" {
				t.Fatalf("reuse = %d %v", status, reuse)
			}
			if _, revoked := h.st.Revocations().Revoked(latest); !revoked {
				t.Fatal("access token of the family still valid after refresh token reuse")
			}
			status, after := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(out2, "refresh_token")}}, id, "")
			if status != http.StatusBadRequest || str(after, "error") != "invalid_grant" {
				t.Fatalf("newest refresh token after reuse = %d %v", status, after)
			}
		})
		t.Run("refresh narrows scope only", func(t *testing.T) {
			out := h.codeToken(id, nil)
			status, wide := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {str(out, "refresh_token")},
				"scope": {"expenses:admin"}}, id, "")
			if status != http.StatusBadRequest || str(wide, "error") != "invalid_scope" {
				t.Fatalf("= %d %v", status, wide)
			}
		})
	})
}

func TestClientAuthentication(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	id, secret := h.confidentialClient("Executor")
	h.login(h.browser, testUser, testPassword)
	verifier, challenge := pkce()
	code := h.approve(h.browser, h.authParams(id, challenge), nil)
	form := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {loopbackCB}, "code_verifier": {verifier}}
	}
	if status, out := h.token(form(), id, "wrong"); status != http.StatusUnauthorized || str(out, "error") != "invalid_client" {
		t.Fatalf("wrong secret = %d %v", status, out)
	}
	if status, out := h.token(form(), id, ""); status != http.StatusUnauthorized {
		t.Fatalf("no secret = %d %v", status, out)
	}
	f := form()
	f.Set("client_secret", secret)
	if status, out := h.token(f, id, ""); status != http.StatusOK {
		t.Fatalf("client_secret_post = %d %v", status, out)
	}
}

func TestLogin(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	if resp := h.login(newBrowser(), testUser, "wrong password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d", resp.StatusCode)
	}
	if resp := h.login(newBrowser(), "nobody", testPassword); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unknown user = %d", resp.StatusCode)
	}
	// No CSRF cookie: refused.
	resp, _ := h.postForm(newBrowser(), h.url("/login"), url.Values{"csrf": {"x"}, "username": {testUser}, "password": {testPassword}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without the CSRF cookie = %d", resp.StatusCode)
	}
	resp = h.login(h.browser, testUser, testPassword)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "legant_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie = %+v (http issuer: not Secure)", session)
	}
	// Open redirects are refused.
	for _, rt := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		_, body := h.get(newBrowser(), h.url("/login?return_to="+url.QueryEscape(rt)))
		if !strings.Contains(body, `name="return_to" value="/account/delegations"`) {
			t.Errorf("return_to %q kept", rt)
		}
	}
}

func TestLoginThrottle(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	for i := range 10 {
		if resp := h.login(newBrowser(), testUser, "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d", i, resp.StatusCode)
		}
	}
	if resp := h.login(newBrowser(), testUser, testPassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures = %d, want 429", resp.StatusCode)
	}
}

func TestHTTPSCookies(t *testing.T) {
	b := storetest.Backends(t)[0]
	st := storetest.Open(t, b.Options(t))
	as, err := oauth.New(oauth.Options{Issuer: "https://gw.example", Store: st, Keys: authority.NewKeySet(),
		Registry: emptyRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	as.ServeHTTP(rec, mustRequest(http.MethodGet, "https://gw.example/login"))
	ck := rec.Result().Cookies()
	if len(ck) != 1 || ck[0].Name != "__Host-legant_login_csrf" || !ck[0].Secure || ck[0].Path != "/" {
		t.Fatalf("cookies = %+v", ck)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}

func TestNewRefusesBadIssuer(t *testing.T) {
	b := storetest.Backends(t)[0]
	st := storetest.Open(t, b.Options(t))
	for _, iss := range []string{"", "legant", "https://gw.example/issuer", "ftp://x", "https://gw.example?x=1"} {
		if _, err := oauth.New(oauth.Options{Issuer: iss, Store: st, Keys: authority.NewKeySet(), Registry: emptyRegistry(t)}); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
}
