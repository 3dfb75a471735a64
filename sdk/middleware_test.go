package sdk_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
)

// expenseAPI is a protected endpoint: POST ?amount=N submits an expense;
// ?fail=1 makes the handler fail (the budget hold is released).
func expenseAPI(v *sdk.Verifier) http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := sdk.ClaimsFrom(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "upstream failed", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "accepted for "+c.Provenance())
	})
	return v.Middleware(&sdk.MiddlewareOptions{
		Scope: "expenses:write",
		Action: func(r *http.Request) (sdk.Action, error) {
			return sdk.Action{Tool: "submit_expense", Amount: r.URL.Query().Get("amount"), Currency: "USD"}, nil
		},
	})(h)
}

type response struct {
	status    int
	challenge string
	body      string
}

func do(t *testing.T, h http.Handler, token, query string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/expenses?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String()}
}

func TestMiddleware(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(nil)
	h := expenseAPI(v)
	good := ti.mint(ti.claims(nil))
	revokedClaims := ti.claims(nil)
	revoked := ti.mint(revokedClaims)
	ti.revoke(revfeed.KindToken, revokedClaims.ID)
	if err := v.RefreshFeed(context.Background()); err != nil {
		t.Fatal(err)
	}
	md := `resource_metadata="https://api.example/.well-known/oauth-protected-resource/expenses"`
	tests := []struct {
		name      string
		token     string
		query     string
		status    int
		challenge string // substrings, comma separated by the test
		body      string
	}{
		{"allowed", good, "amount=300", 200, "", "accepted for user:alice → agent:planner → agent:executor"},
		{"no token", "", "amount=300", 401, "Bearer " + md, `"error":"invalid_request"`},
		{"garbage token", "not-a-jwt", "amount=300", 401, `error="invalid_token"`, "malformed"},
		{"revoked", revoked, "amount=300", 401, `error="invalid_token", error_description="the token has been revoked"`, ""},
		{"expired", ti.mint(ti.claims(func(c *authority.Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Hour) })),
			"amount=1", 401, `error_description="the token has expired"`, ""},
		{"other audience", ti.mint(ti.claims(func(c *authority.Claims) { c.Audience = []string{"https://other.example"} })),
			"amount=1", 401, `error="invalid_token"`, "audience"},
		{"missing scope", ti.mint(ti.claims(func(c *authority.Claims) { c.Scopes = []string{"expenses:read"} })),
			"amount=1", 403, `error="insufficient_scope"`, "lacks scope expenses:write"},
		{"amount over max_amount", good, "amount=700", 403, `error="insufficient_scope", error_description="denied: amount 700 exceeds max_amount 500"`,
			`"reason":"max_amount","limit":"500","value":"700"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, h, tt.token, tt.query)
			if got.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.status, got.body)
			}
			if tt.status >= 400 && !strings.Contains(got.challenge, md) {
				t.Errorf("WWW-Authenticate = %q, want %s", got.challenge, md)
			}
			if !strings.Contains(got.challenge, tt.challenge) {
				t.Errorf("WWW-Authenticate = %q, want %q in it", got.challenge, tt.challenge)
			}
			if !strings.Contains(got.body, tt.body) {
				t.Errorf("body = %q, want %q in it", got.body, tt.body)
			}
		})
	}
}

// TestMiddlewareBudget: the token's budget is held per call and spent only
// when the handler succeeds.
func TestMiddlewareBudget(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(nil)
	h := expenseAPI(v)
	tok := ti.mint(ti.claims(func(c *authority.Claims) {
		c.Constraints.Budget = &authority.Money{Value: authority.MustDecimal("1000"), Currency: "USD"}
	}))
	steps := []struct {
		query  string
		status int
	}{
		{"amount=400", 200},
		{"amount=400", 200},
		{"amount=150&fail=1", 502}, // held, then released: nothing spent
		{"amount=300", 403},        // 800 + 300 > 1000
		{"amount=200", 200},        // 1000: allowed only because the 150 was released
	}
	for i, s := range steps {
		got := do(t, h, tok, s.query)
		if got.status != s.status {
			t.Fatalf("step %d (%s): status %d, want %d: %s", i, s.query, got.status, s.status, got.body)
		}
		if s.status == 403 {
			var body struct {
				Decision struct{ Reason string } `json:"decision"`
			}
			json.Unmarshal([]byte(got.body), &body)
			if body.Decision.Reason != "budget" {
				t.Fatalf("step %d: %s, want reason budget", i, got.body)
			}
		}
	}
}

func TestMiddlewareFeedStale(t *testing.T) {
	ti := newTestIssuer(t)
	ti.feedDown.Store(true)
	v := ti.verifier(&sdk.VerifierOptions{RequireFreshFeed: true})
	got := do(t, v.Middleware(nil)(http.NotFoundHandler()), ti.mint(ti.claims(nil)), "")
	if got.status != http.StatusServiceUnavailable || !strings.Contains(got.body, "temporarily_unavailable") {
		t.Fatalf("stale feed: %d %s, want 503 temporarily_unavailable", got.status, got.body)
	}
}

func TestProtectedResourceHandler(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(nil)
	rec := httptest.NewRecorder()
	v.ProtectedResourceHandler("expenses:write").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, v.ResourceMetadataURL(), nil))
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		Scopes               []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil {
		t.Fatal(err)
	}
	if md.Resource != testAudience || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != ti.url ||
		len(md.Scopes) != 1 {
		t.Fatalf("metadata = %+v", md)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		headers []string
		token   string
		ok      bool
	}{
		{[]string{"Bearer abc"}, "abc", true},
		{[]string{"bearer  abc "}, "abc", true},
		{[]string{"Basic abc"}, "", false},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Bearer a", "Bearer b"}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, h := range tt.headers {
			r.Header.Add("Authorization", h)
		}
		tok, ok := sdk.BearerToken(r)
		if tok != tt.token || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.headers, tok, ok, tt.token, tt.ok)
		}
	}
}

// TestChallengeCharset: error_description stays within RFC 6750's characters
// whatever the decision says; the JSON body keeps the exact text.
func TestChallengeCharset(t *testing.T) {
	d := policy.Deny(policy.ReasonCategory, "category %q is not allowed", "Straße \\ x")
	rec := httptest.NewRecorder()
	sdk.WriteDenial(rec, d, "https://api.example/.well-known/oauth-protected-resource")
	h := rec.Header().Get("WWW-Authenticate")
	desc := h[strings.Index(h, `error_description="`)+len(`error_description="`):]
	desc = desc[:strings.IndexByte(desc, '"')]
	if want := `denied: category 'Stra?e ?? x' is not allowed`; desc != want {
		t.Fatalf("error_description = %q, want %q (header %s)", desc, want, h)
	}
	if !strings.Contains(rec.Body.String(), `Straße \\\\ x`) || rec.Code != http.StatusForbidden {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}
