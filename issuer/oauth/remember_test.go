package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestRememberedConsent: a consent approved with "remember" approves the
// same request (user, client, resource, scopes) again with the same limits
// and no page; another scope set asks again; forgetting it on /account
// brings the page back.
func TestRememberedConsent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		id := h.publicClient()
		h.login(h.browser, testUser, testPassword)
		h.codeToken(id, url.Values{"max_amount": {"200"}, "currency": {"USD"}, "remember": {"on"}})

		verifier, challenge := pkce()
		q := h.authParams(id, challenge)
		resp, _ := h.get(h.browser, h.url("/oauth2/authorize?"+q.Encode()))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-1" {
			t.Fatalf("remembered authorize = %d %s, want a code at once", resp.StatusCode, loc)
		}
		status, out := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": {loopbackCB}, "code_verifier": {verifier}}, id, "")
		if status != http.StatusOK {
			t.Fatalf("token = %d %v", status, out)
		}
		c, err := h.verify(str(out, "access_token"))
		if err != nil || c.Constraints.MaxAmount == nil || c.Constraints.MaxAmount.Value.Cmp(authority.MustDecimal("200")) != 0 {
			t.Fatalf("remembered limits not applied: %+v %v", c, err)
		}
		// Another request (other scopes) shows the page.
		_, challenge = pkce()
		q2 := h.authParams(id, challenge)
		q2.Set("scope", "expenses:read")
		if resp, _ := h.get(h.browser, h.url("/oauth2/authorize?"+q2.Encode())); resp.StatusCode != http.StatusOK {
			t.Errorf("another scope set = %d, want the consent page", resp.StatusCode)
		}
		// Another user does not inherit it.
		cs, _ := h.st.ListConsents(context.Background(), testUser)
		if len(cs) != 1 || cs[0].ClientID != id || cs[0].Scopes != "expenses:read expenses:write" {
			t.Fatalf("consents = %+v", cs)
		}
		_, page := h.get(h.browser, h.url("/account/delegations"))
		if !strings.Contains(page, "Remembered consents") || !strings.Contains(page, `value="expenses:read expenses:write"`) {
			t.Fatalf("account page lacks the remembered consent")
		}
		csrf := csrfField.FindStringSubmatch(page)[1]
		resp, _ = h.postForm(h.browser, h.url("/account/consents/forget"), url.Values{"csrf": {csrf}, "client_id": {id},
			"resource": {h.resource}, "scopes": {"expenses:read expenses:write"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("forget = %d", resp.StatusCode)
		}
		if resp, _ := h.get(h.browser, h.url("/oauth2/authorize?"+q.Encode())); resp.StatusCode != http.StatusOK {
			t.Errorf("after forgetting = %d, want the consent page", resp.StatusCode)
		}
		// Forgetting needs the session's CSRF token.
		if resp, _ := h.postForm(h.browser, h.url("/account/consents/forget"), url.Values{"client_id": {id}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("forget without csrf = %d", resp.StatusCode)
		}
	})
}
