package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/oauth"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
	"github.com/openlegant/legant/upstreams"
)

const (
	testUser     = "alice"
	testPassword = "correct horse battery"
	loopbackCB   = "http://127.0.0.1:7777/callback"
)

// harness is the authorization server on a real store, served over HTTP,
// with a browser (cookie jar, redirects not followed) to drive the pages.
type harness struct {
	t        testing.TB
	st       *store.Store
	keys     *authority.KeySet
	srv      *httptest.Server
	as       *oauth.Server
	opts     oauth.Options
	issuer   string
	resource string // the expenses upstream's inbound audience
	browser  *http.Client
}

const testRegistry = `version: 1
upstreams:
  - slug: expenses
    url: http://127.0.0.1:9/mcp
    tools:
      list_expenses:
        scope: expenses:read
      submit_expense:
        scope: expenses:write
        amount: {pointer: /amount, currency: USD}
        category: /category
        mutating: true
      delete_all:
        scope: expenses:admin
        mutating: true
  - slug: notes
    url: http://127.0.0.1:9/notes
    tools:
      read_note:
        scope: notes:read
`

func newHarness(t testing.TB, b storetest.Backend, edit func(*oauth.Options)) *harness {
	t.Helper()
	h := &harness{t: t, st: storetest.Open(t, b.Options(t))}
	h.srv = httptest.NewUnstartedServer(nil)
	h.issuer = "http://" + h.srv.Listener.Addr().String()
	h.resource = h.issuer + "/mcp/expenses"
	reg, err := upstreams.Parse("test.yaml", []byte(testRegistry), upstreams.Options{PublicURL: h.issuer})
	if err != nil {
		t.Fatal(err)
	}
	key, err := authority.GenerateEd25519Key("k1")
	if err != nil {
		t.Fatal(err)
	}
	h.keys = authority.NewKeySet()
	h.keys.Add(key, time.Time{})
	opts := oauth.Options{Issuer: h.issuer, Store: h.st, Keys: h.keys, Registry: func() *upstreams.Registry { return reg }}
	if edit != nil {
		edit(&opts)
	}
	if h.as, err = oauth.New(opts); err != nil {
		t.Fatal(err)
	}
	h.opts = opts
	// The JWKS, as cmd/legant mounts it beside the server.
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+oauth.JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		b, _ := h.keys.JWKS(time.Now())
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.as.ServeHTTP(w, r) }))
	h.srv.Config.Handler = mux
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	h.browser = newBrowser()
	hash, err := oauth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.CreateUser(context.Background(), store.User{Name: testUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	return h
}

// newBrowser is a client with cookies that does not follow redirects, so
// tests see each hop (and the code sent to the client's redirect URI).
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (h *harness) url(path string) string { return h.issuer + path }

// do sends a request and returns the status and body.
func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (h *harness) get(c *http.Client, u string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(h.t, c, req)
}

func (h *harness) postForm(c *http.Client, u string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(h.t, c, req)
}

// register registers a client by DCR and returns its id and secret.
func (h *harness) register(md map[string]any) (id, secret string) {
	h.t.Helper()
	status, body := h.registerRaw(md, "")
	if status != http.StatusCreated {
		h.t.Fatalf("register = %d %s", status, body)
	}
	var out struct{ ClientID, ClientSecret string }
	var raw map[string]any
	json.Unmarshal([]byte(body), &raw)
	out.ClientID, _ = raw["client_id"].(string)
	out.ClientSecret, _ = raw["client_secret"].(string)
	return out.ClientID, out.ClientSecret
}

func (h *harness) registerRaw(md map[string]any, bearer string) (int, string) {
	b, _ := json.Marshal(md)
	req, _ := http.NewRequest(http.MethodPost, h.url("/oauth2/register"), strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, body := do(h.t, http.DefaultClient, req)
	return resp.StatusCode, body
}

// publicClient registers a public client with a loopback redirect URI that
// may refresh.
func (h *harness) publicClient() string {
	id, _ := h.register(map[string]any{"client_name": "Planner", "redirect_uris": []string{loopbackCB},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"}})
	return id
}

// confidentialClient registers a client that may exchange tokens.
func (h *harness) confidentialClient(name string) (id, secret string) {
	return h.register(map[string]any{"client_name": name, "redirect_uris": []string{loopbackCB},
		"token_endpoint_auth_method": "client_secret_basic",
		"grant_types":                []string{"authorization_code", "refresh_token", oauth.GrantTokenExchange}})
}

var (
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	hiddenTags = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// login logs the browser in.
func (h *harness) login(c *http.Client, user, password string) *http.Response {
	h.t.Helper()
	_, body := h.get(c, h.url("/login"))
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("no csrf on the login page:\n%s", body)
	}
	resp, _ := h.postForm(c, h.url("/login"), url.Values{"csrf": {m[1]}, "username": {user}, "password": {password},
		"return_to": {"/account/delegations"}})
	return resp
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = strings.Repeat("v", 20) + fmt.Sprint(time.Now().UnixNano()) + strings.Repeat("w", 20)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authParams are the parameters of a valid authorization request.
func (h *harness) authParams(clientID, challenge string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {loopbackCB},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {h.resource},
		"scope": {"expenses:read expenses:write"}, "state": {"st-1"}}
}

// consent opens the authorization URL in the logged-in browser, sets the
// given form fields on the consent page and submits; it returns the
// response (a redirect to the client, when approved).
func (h *harness) consent(c *http.Client, q url.Values, fields url.Values) (*http.Response, string) {
	h.t.Helper()
	resp, body := h.get(c, h.url("/oauth2/authorize?"+q.Encode()))
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("authorize = %d %s (Location %s)", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	form := url.Values{}
	for _, m := range hiddenTags.FindAllStringSubmatch(body, -1) {
		form.Add(m[1], html.UnescapeString(m[2]))
	}
	for k, v := range fields {
		form[k] = v
	}
	return h.postForm(c, h.url("/oauth2/authorize"), form)
}

// approve runs consent with an approval and returns the code.
func (h *harness) approve(c *http.Client, q url.Values, fields url.Values) string {
	h.t.Helper()
	if fields == nil {
		fields = url.Values{}
	}
	fields.Set("decision", "approve")
	if fields["tool"] == nil {
		fields["tool"] = []string{"list_expenses", "submit_expense"}
	}
	if fields.Get("ttl") == "" {
		fields.Set("ttl", "8h")
	}
	resp, body := h.consent(c, q, fields)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		h.t.Fatalf("consent = %d %s, Location %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	if loc.Query().Get("state") != q.Get("state") || loc.Query().Get("iss") != h.issuer {
		h.t.Fatalf("redirect %s lacks state or iss", loc)
	}
	return loc.Query().Get("code")
}

// token posts to the token endpoint, with HTTP Basic when secret is set.
func (h *harness) token(form url.Values, id, secret string) (int, map[string]any) {
	h.t.Helper()
	if secret == "" {
		form.Set("client_id", id)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url("/oauth2/token"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, body := do(h.t, http.DefaultClient, req)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		h.t.Fatalf("token response %d is not JSON: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

// codeToken runs the whole flow for a public client and returns the token
// response.
func (h *harness) codeToken(clientID string, fields url.Values) map[string]any {
	h.t.Helper()
	verifier, challenge := pkce()
	code := h.approve(h.browser, h.authParams(clientID, challenge), fields)
	status, out := h.token(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {loopbackCB}, "code_verifier": {verifier}, "resource": {h.resource}}, clientID, "")
	if status != http.StatusOK {
		h.t.Fatalf("token = %d %v", status, out)
	}
	return out
}

// verify verifies an access token as the gateway does.
func (h *harness) verify(tok string) (*authority.Claims, error) {
	return authority.Verify(tok, h.keys, authority.VerifyOptions{Issuer: h.issuer, Audience: h.resource, RequireActor: true}, time.Now())
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func emptyRegistry(t testing.TB) func() *upstreams.Registry {
	reg, err := upstreams.Parse("empty.yaml", []byte("version: 1\n"), upstreams.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return func() *upstreams.Registry { return reg }
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(method, u string) *http.Request { return httptest.NewRequest(method, u, nil) }
