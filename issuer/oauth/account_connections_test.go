package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// TestAccountConnections: /account/connections lists the logged-in user's
// upstream connections (never a token, never another user's) and
// disconnects one with a CSRF-protected POST.
func TestAccountConnections(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		h := newHarness(t, b, nil)
		hash, _ := oauth.HashPassword(testPassword)
		if err := h.st.CreateUser(ctx, store.User{Name: "bob", PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		const aliceTok, bobTok = "at-alice-5f1c9e2d7b", "at-bob-0a8e4c6f31"
		for _, c := range []store.Connection{
			{User: testUser, Upstream: "github", AccessToken: aliceTok, RefreshToken: "rt-alice-77", Scope: "repo", Issuer: "https://github.example", ExpiresAt: time.Now().Add(time.Hour)},
			{User: testUser, Upstream: "linear", AccessToken: aliceTok + "-2", Scope: "read", Issuer: "https://linear.example"},
			{User: "bob", Upstream: "notion", AccessToken: bobTok, Scope: "read", Issuer: "https://notion.example"},
		} {
			if err := h.st.PutConnection(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		// Not logged in: to the login page.
		if resp, _ := h.get(newBrowser(), h.url("/account/connections")); resp.StatusCode != http.StatusSeeOther ||
			!strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("anonymous = %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		h.login(h.browser, testUser, testPassword)
		resp, body := h.get(h.browser, h.url("/account/connections"))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "github") || !strings.Contains(body, "https://github.example") ||
			!strings.Contains(body, "linear") || strings.Contains(body, "notion") {
			t.Fatalf("page = %d\n%s", resp.StatusCode, body)
		}
		for _, secret := range []string{aliceTok, "rt-alice-77", bobTok} {
			if strings.Contains(body, secret) {
				t.Fatal("the page shows a token")
			}
		}
		csrf := csrfField.FindStringSubmatch(body)[1]
		disconnect := func(c *http.Client, form url.Values) int {
			resp, _ := h.postForm(c, h.url("/account/connections/disconnect"), form)
			return resp.StatusCode
		}
		if s := disconnect(h.browser, url.Values{"upstream": {"github"}}); s != http.StatusForbidden {
			t.Errorf("without csrf = %d", s)
		}
		if s := disconnect(h.browser, url.Values{"csrf": {"x" + csrf}, "upstream": {"github"}}); s != http.StatusForbidden {
			t.Errorf("wrong csrf = %d", s)
		}
		if s := disconnect(h.browser, url.Values{"csrf": {csrf}, "upstream": {"notion"}}); s != http.StatusNotFound {
			t.Errorf("bob's upstream by alice = %d", s)
		}
		if s := disconnect(h.browser, url.Values{"csrf": {csrf}}); s != http.StatusNotFound {
			t.Errorf("no upstream = %d", s)
		}
		if _, err := h.st.GetConnection(ctx, testUser, "github"); err != nil {
			t.Fatalf("a refused disconnect removed the connection: %v", err)
		}
		if _, err := h.st.GetConnection(ctx, "bob", "notion"); err != nil {
			t.Fatalf("bob's connection: %v", err)
		}
		if s := disconnect(h.browser, url.Values{"csrf": {csrf}, "upstream": {"github"}}); s != http.StatusSeeOther {
			t.Fatalf("disconnect = %d", s)
		}
		if _, err := h.st.GetConnection(ctx, testUser, "github"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after disconnect: %v", err)
		}
		if _, err := h.st.GetConnection(ctx, testUser, "linear"); err != nil {
			t.Errorf("the other connection went too: %v", err)
		}
		_, body = h.get(h.browser, h.url("/account/connections"))
		if strings.Contains(body, "github") || !strings.Contains(body, "linear") {
			t.Errorf("page after disconnect:\n%s", body)
		}
		evs, err := h.st.Audit().Query(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			found = found || e.Kind == audit.KindRevoke && e.Decision == "disconnect" && e.User == testUser && e.Upstream == "github"
		}
		if !found {
			t.Error("the disconnect is not audited")
		}
	})
}
