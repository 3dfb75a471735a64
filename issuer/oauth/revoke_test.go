package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/openlegant/legant/issuer/store/storetest"
)

// endpoint posts form to path as client id (HTTP Basic when secret is set).
func (h *harness) endpoint(path string, form url.Values, id, secret string) (int, map[string]any) {
	h.t.Helper()
	if secret == "" {
		form.Set("client_id", id)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, body := do(h.t, http.DefaultClient, req)
	var out map[string]any
	json.Unmarshal([]byte(body), &out)
	return resp.StatusCode, out
}

func TestRevokeAndIntrospect(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, nil)
		id := h.publicClient()
		rsID, rsSecret := h.confidentialClient("Resource server")
		h.login(h.browser, testUser, testPassword)
		out := h.codeToken(id, url.Values{"max_amount": {"200"}})
		at, rt := str(out, "access_token"), str(out, "refresh_token")

		introspect := func(tok string) map[string]any {
			status, o := h.endpoint("/oauth2/introspect", url.Values{"token": {tok}}, rsID, rsSecret)
			if status != http.StatusOK {
				t.Fatalf("introspect = %d %v", status, o)
			}
			return o
		}
		got := introspect(at)
		if got["active"] != true || str(got, "sub") != testUser || str(got, "client_id") != id || got["act"] == nil ||
			str(got, "delegation_id") == "" || got["authorization_details"] == nil {
			t.Fatalf("access token introspection = %v", got)
		}
		if got := introspect(rt); got["active"] != true || str(got, "token_type") != "refresh_token" {
			t.Fatalf("refresh token introspection = %v", got)
		}
		if got := introspect("garbage"); got["active"] != false || len(got) != 1 {
			t.Fatalf("garbage introspection = %v", got)
		}
		if status, _ := h.endpoint("/oauth2/introspect", url.Values{"token": {at}}, id, ""); status != http.StatusUnauthorized {
			t.Fatalf("introspection by a public client = %d", status)
		}

		// Another client cannot revoke the token; an unknown token is 200.
		if status, o := h.endpoint("/oauth2/revoke", url.Values{"token": {at}}, rsID, rsSecret); status != http.StatusBadRequest {
			t.Fatalf("revoke by another client = %d %v", status, o)
		}
		if status, _ := h.endpoint("/oauth2/revoke", url.Values{"token": {"unknown"}}, id, ""); status != http.StatusOK {
			t.Fatalf("revoke unknown = %d", status)
		}
		// Revoking the access token: its jti only.
		if status, _ := h.endpoint("/oauth2/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}}, id, ""); status != http.StatusOK {
			t.Fatalf("revoke access token = %d", status)
		}
		if got := introspect(at); got["active"] != false {
			t.Fatalf("revoked access token is active: %v", got)
		}
		if got := introspect(rt); got["active"] != true {
			t.Fatalf("refresh token inactive after revoking an access token: %v", got)
		}
		// Revoking the refresh token: the whole grant.
		status, o := h.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, "")
		if status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, o)
		}
		at2, rt2 := str(o, "access_token"), str(o, "refresh_token")
		if status, _ := h.endpoint("/oauth2/revoke", url.Values{"token": {rt2}}, id, ""); status != http.StatusOK {
			t.Fatalf("revoke refresh token = %d", status)
		}
		claims, _ := h.verify(at2)
		if _, revoked := h.st.Revocations().Revoked(claims); !revoked {
			t.Fatal("access token still valid after its refresh token was revoked")
		}
		if got := introspect(rt2); got["active"] != false {
			t.Fatalf("revoked refresh token active: %v", got)
		}
	})
}

var revokeForm = regexp.MustCompile(`name="id" value="([^"]+)"`)

func TestAccountDelegations(t *testing.T) {
	b := storetest.Backends(t)[0]
	h := newHarness(t, b, nil)
	planner := h.publicClient()
	bID, bSecret := h.confidentialClient("Sub-agent B")
	h.login(h.browser, testUser, testPassword)
	parent := str(h.codeToken(planner, url.Values{"max_amount": {"200"}}), "access_token")
	_, out := h.token(exchangeForm(parent, h.resource, "", ""), bID, bSecret)
	child, _ := h.verify(str(out, "access_token"))

	resp, body := h.get(h.browser, h.url("/account/delegations"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Planner") || !strings.Contains(body, "Sub-agent B") ||
		!strings.Contains(body, "max 200") || !strings.Contains(body, "indent-1") {
		t.Fatalf("page = %d\n%s", resp.StatusCode, body)
	}
	ids := revokeForm.FindAllStringSubmatch(body, -1)
	if len(ids) != 2 {
		t.Fatalf("revoke buttons = %d, want 2", len(ids))
	}
	csrf := csrfField.FindStringSubmatch(body)[1]
	// Without the CSRF token: refused.
	if resp, _ := h.postForm(h.browser, h.url("/account/delegations/revoke"), url.Values{"id": {ids[0][1]}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke without csrf = %d", resp.StatusCode)
	}
	// Another user cannot revoke it.
	other := newBrowser()
	if resp, _ := h.get(other, h.url("/account/delegations")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("account page logged out = %d", resp.StatusCode)
	}
	resp, _ = h.postForm(h.browser, h.url("/account/delegations/revoke"), url.Values{"id": {ids[0][1]}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke = %d", resp.StatusCode)
	}
	if _, revoked := h.st.Revocations().Revoked(child); !revoked {
		t.Fatal("the sub-agent's token survived the revocation of the root delegation")
	}
	_, body = h.get(h.browser, h.url("/account/delegations"))
	if strings.Count(body, `class="status revoked"`) != 2 {
		t.Fatalf("after revoke:\n%s", body)
	}
}
