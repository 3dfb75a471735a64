package oauth_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

var ssoLinkRE = regexp.MustCompile(`href="(/login/sso/idp\?[^"]*)"`)

// ssoPair is a Legant issuer (the relying party, rp) whose users sign in
// through another Legant issuer (idp), a real OpenID provider on loopback
// with its own store: go-oidc discovers it, verifies its ID tokens against
// its JWKS and checks iss and aud.
type ssoPair struct{ idp, rp *harness }

func newSSOPair(t *testing.T, b storetest.Backend, config string) *ssoPair {
	p := &ssoPair{idp: newHarness(t, b, nil)}
	ctx := context.Background()
	hash, _ := oauth.HashPassword(testPassword)
	for _, u := range []store.User{{Name: "bob", Email: "bob@example.com", Admin: true}, {Name: "carol", Email: "carol@other.example"}} {
		u.PasswordHash = hash
		if err := p.idp.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	p.rp = newHarness(t, b, func(o *oauth.Options) {
		id, secret := p.idp.register(map[string]any{"client_name": "Legant (relying party)",
			"redirect_uris": []string{o.Issuer + "/login/sso/idp/callback"}, "token_endpoint_auth_method": "client_secret_basic"})
		secretFile := filepath.Join(t.TempDir(), "idp-secret")
		os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
		cfg, err := oauth.ParseSSOConfig("sso.yaml", []byte(fmt.Sprintf(config, p.idp.issuer, id, secretFile)))
		if err != nil {
			t.Fatal(err)
		}
		if o.SSO, err = oauth.NewSSO(cfg); err != nil {
			t.Fatal(err)
		}
	})
	return p
}

const ssoConfig = `providers:
  - name: idp
    title: Example IdP
    issuer: %s
    client_id: %s
    client_secret: {file: %s}
    allowed_domains: [example.com]
    provision: true
    groups_claim: roles
    admin_groups: [admin]
`

// signIn runs the browser from the rp's authorization request through the
// idp's login and sign-in consent back to the rp's callback, and returns
// the rp's answer to the callback.
func (p *ssoPair) signIn(t *testing.T, c *http.Client, q url.Values, user string) *http.Response {
	t.Helper()
	resp, _ := p.rp.get(c, p.rp.url("/oauth2/authorize?"+q.Encode()))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rp authorize = %d", resp.StatusCode)
	}
	_, body := p.rp.get(c, p.rp.url(resp.Header.Get("Location")))
	m := ssoLinkRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no SSO button on the login page:\n%s", body)
	}
	resp, _ = p.rp.get(c, p.rp.url(html.UnescapeString(m[1])))
	toIdP := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(toIdP, p.idp.issuer+"/oauth2/authorize?") {
		t.Fatalf("sso start = %d %s", resp.StatusCode, toIdP)
	}
	ar, _ := url.Parse(toIdP)
	if ar.Query().Get("code_challenge_method") != "S256" || ar.Query().Get("nonce") == "" || ar.Query().Get("state") == "" {
		t.Errorf("the request to the provider lacks PKCE, nonce or state: %s", toIdP)
	}
	resp, _ = p.idp.get(c, toIdP)
	loginAt := p.idp.url(resp.Header.Get("Location"))
	_, body = p.idp.get(c, loginAt)
	lu, _ := url.Parse(loginAt)
	resp, _ = p.idp.postForm(c, p.idp.url("/login"), url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]},
		"username": {user}, "password": {testPassword}, "return_to": {lu.Query().Get("return_to")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("idp login = %d", resp.StatusCode)
	}
	resp, body = p.idp.get(c, p.idp.url(resp.Header.Get("Location")))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in to") {
		t.Fatalf("idp sign-in page = %d %s", resp.StatusCode, body)
	}
	form := url.Values{"decision": {"approve"}}
	for _, m := range hiddenTags.FindAllStringSubmatch(body, -1) {
		form.Add(m[1], html.UnescapeString(m[2]))
	}
	resp, _ = p.idp.postForm(c, p.idp.url("/oauth2/authorize"), form)
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(back, p.rp.issuer+"/login/sso/idp/callback?") {
		t.Fatalf("idp consent = %d %s", resp.StatusCode, back)
	}
	resp, _ = p.rp.get(c, back)
	return resp
}

// TestSSOEndToEnd: bob signs in at the idp, is provisioned at the rp just in
// time (verified e-mail in an allowed domain), gets the admin role from the
// idp's roles claim, consents at the rp, and the token names him.
func TestSSOEndToEnd(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		p := newSSOPair(t, b, ssoConfig)
		ctx := context.Background()
		client := p.rp.publicClient()
		verifier, challenge := pkce()
		q := p.rp.authParams(client, challenge)
		browser := newBrowser()
		resp := p.signIn(t, browser, q, "bob")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/oauth2/authorize?") {
			t.Fatalf("rp callback = %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		code := p.rp.approve(browser, q, url.Values{"max_amount": {"200"}, "currency": {"USD"}})
		status, out := p.rp.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"redirect_uri": {loopbackCB}, "code_verifier": {verifier}}, client, "")
		if status != http.StatusOK {
			t.Fatalf("token = %d %v", status, out)
		}
		c, err := p.rp.verify(str(out, "access_token"))
		if err != nil || c.Subject != "bob@example.com" || c.Chain().String() != "agent:"+client {
			t.Fatalf("token claims = %+v, %v", c, err)
		}
		u, err := p.rp.st.GetUser(ctx, "bob@example.com")
		if err != nil || !u.Admin || u.Email != "bob@example.com" || u.PasswordHash != oauth.NoPassword {
			t.Fatalf("provisioned user = %+v, %v", u, err)
		}
		id, err := p.rp.st.GetIdentity(ctx, p.idp.issuer, "bob")
		if err != nil || id.User != "bob@example.com" {
			t.Errorf("identity = %+v, %v", id, err)
		}
		// No password logs in to a provisioned account.
		if resp := p.rp.login(newBrowser(), "bob@example.com", oauth.NoPassword); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("password login to an SSO account = %d", resp.StatusCode)
		}
		// The idp drops bob from admin: the next sign-in takes the role away.
		if err := p.idp.st.SetAdmin(ctx, "bob", false); err != nil {
			t.Fatal(err)
		}
		_, challenge = pkce()
		if resp := p.signIn(t, newBrowser(), p.rp.authParams(client, challenge), "bob"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second sign-in = %d", resp.StatusCode)
		}
		if u, _ := p.rp.st.GetUser(ctx, "bob@example.com"); u.Admin {
			t.Error("admin role kept after the idp removed the group")
		}
		// carol's verified e-mail is in another domain: refused, not provisioned.
		if resp := p.signIn(t, newBrowser(), p.rp.authParams(client, challenge), "carol"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("carol = %d", resp.StatusCode)
		}
		if _, err := p.rp.st.GetUser(ctx, "carol@other.example"); err == nil {
			t.Error("carol was provisioned")
		}
	})
}

// TestSSORefusals: a callback that this browser did not start (state), a
// provider that does not provision, an unknown provider.
func TestSSORefusals(t *testing.T) {
	b := storetest.Backends(t)[0]
	p := newSSOPair(t, b, strings.Replace(ssoConfig, "provision: true", "provision: false", 1))
	client := p.rp.publicClient()
	_, challenge := pkce()
	if resp := p.signIn(t, newBrowser(), p.rp.authParams(client, challenge), "bob"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without provisioning = %d", resp.StatusCode)
	}
	resp, _ := p.rp.get(newBrowser(), p.rp.url("/login/sso/idp/callback?code=x&state=forged"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged callback = %d", resp.StatusCode)
	}
	// A browser that started a sign-in, with another state.
	br := newBrowser()
	p.rp.get(br, p.rp.url("/login/sso/idp"))
	if resp, _ := p.rp.get(br, p.rp.url("/login/sso/idp/callback?code=x&state=forged")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback with another state = %d", resp.StatusCode)
	}
	if resp, _ := p.rp.get(br, p.rp.url("/login/sso/nope")); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown provider = %d", resp.StatusCode)
	}
}

func TestSSOConfig(t *testing.T) {
	t.Setenv("SSO_SECRET", "s3cret")
	tests := []struct{ yaml, want string }{
		{"providers:\n  - name: corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: literal\n", "must be a reference"},
		{"providers:\n  - name: corp\n    issuer: http://login.example.com\n    client_id: legant\n    client_secret: {env: SSO_SECRET}\n", "sso.yaml:2: provider \"corp\": issuer must be an https URL"},
		{"providers:\n  - name: corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: {env: SSO_SECRET}\n    provision: true\n", "provision needs allow or allowed_domains"},
		{"providers:\n  - name: corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: {env: NOT_SET_ANYWHERE}\n", "NOT_SET_ANYWHERE is empty"},
		{"providers:\n  - name: Corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: {env: SSO_SECRET}\n", "name must be"},
		{"providers:\n  - name: corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: {env: SSO_SECRET}\n    colour: blue\n", "field colour not found"},
		{"providers:\n  - name: corp\n    issuer: https://login.example.com\n    client_id: legant\n    client_secret: {env: SSO_SECRET}\n    allowed_domains: [example.com]\n    provision: true\n", ""},
	}
	for _, tt := range tests {
		_, err := oauth.ParseSSOConfig("sso.yaml", []byte(tt.yaml))
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s\n=> %v, want %q", tt.yaml, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
}
