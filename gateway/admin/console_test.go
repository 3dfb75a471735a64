package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

// consoleRig is the admin server (with its console) on a real store, and a
// browser-like client: a cookie jar, redirects not followed.
type consoleRig struct {
	st  *store.Store
	url string
	hc  *http.Client
}

func newConsoleRig(t *testing.T, b storetest.Backend) *consoleRig {
	t.Helper()
	st := storetest.Open(t, b.Options(t))
	srv, err := admin.New(admin.Options{Store: st, Token: testToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	jar, _ := cookiejar.New(nil)
	return &consoleRig{st: st, url: hs.URL, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches path and returns the answer and its body.
func (r *consoleRig) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := r.hc.Get(r.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (r *consoleRig) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := r.hc.PostForm(r.url+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// login logs in with token and returns the CSRF token of the session.
func (r *consoleRig) login(t *testing.T, token string) (*http.Response, string) {
	t.Helper()
	_, body := r.get(t, "/console/login")
	resp, _ := r.post(t, "/console/login", url.Values{"csrf": {csrfOf(t, body)}, "token": {token}, "name": {"alice@secops"}})
	if resp.StatusCode != http.StatusSeeOther {
		return resp, ""
	}
	_, page := r.get(t, "/console/sessions")
	return resp, csrfOf(t, page)
}

func TestConsoleLogin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newConsoleRig(t, b)
		if resp, _ := r.get(t, "/console/decisions"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
			t.Fatalf("decisions before login = %d → %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := r.login(t, testToken+"x"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login with a wrong token = %d, want 401", resp.StatusCode)
		}
		resp, _ := r.login(t, testToken)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login = %d, want 303", resp.StatusCode)
		}
		var ck *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "legant_console" {
				ck = c
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console" {
			t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/console", ck)
		}
		if resp, body := r.get(t, "/console/decisions"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice@secops") {
			t.Fatalf("decisions after login = %d, want 200 naming the actor", resp.StatusCode)
		}
		// A forged cookie (the payload changed, the signature kept) is refused.
		u, _ := url.Parse(r.url + "/console")
		r.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "legant_console", Value: "eyJhIjoibWFsbG9yeSIsImUiOjk5OTk5OTk5OTksIm4iOiJ4In0" + ck.Value[strings.Index(ck.Value, "."):], Path: "/console"}})
		if resp, _ := r.get(t, "/console/decisions"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("decisions with a forged cookie = %d, want 303 to the login page", resp.StatusCode)
		}
		// The rest of the admin API still wants the bearer token.
		if resp, _ := r.get(t, "/v1/sessions"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("/v1/sessions with a console cookie = %d, want 401", resp.StatusCode)
		}
	})
}

func TestConsoleCSRF(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newConsoleRig(t, b)
		ctx := context.Background()
		if err := r.st.CreateSession(ctx, store.Session{ID: "s1", User: "alice", Agents: []string{"planner"}, Upstream: "work",
			TokenID: "jti-1", Started: time.Now(), LastActivity: time.Now()}); err != nil {
			t.Fatal(err)
		}
		// Login itself needs the login form's token.
		if resp, _ := r.post(t, "/console/login", url.Values{"token": {testToken}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("login without CSRF token = %d, want 403", resp.StatusCode)
		}
		_, csrf := r.login(t, testToken)
		kill := url.Values{"kind": {"session"}, "value": {"s1"}, "reason": {"test"}}
		for name, tok := range map[string]string{"none": "", "wrong": csrf + "x"} {
			form := url.Values{}
			for k, v := range kill {
				form[k] = v
			}
			if tok != "" {
				form.Set("csrf", tok)
			}
			if resp, _ := r.post(t, "/console/kill", form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("kill with %s CSRF token = %d, want 403", name, resp.StatusCode)
			}
		}
		if se, _ := r.st.GetSession(ctx, "s1"); se.State != store.SessionLive {
			t.Fatalf("session is %s after refused kills, want live", se.State)
		}
		kill.Set("csrf", csrf)
		resp, _ := r.post(t, "/console/kill", kill)
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "Killed") {
			t.Fatalf("kill with the CSRF token = %d → %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if se, _ := r.st.GetSession(ctx, "s1"); se.State != store.SessionKilled || se.EndReason != "test" {
			t.Fatalf("session = %s %q after the kill, want killed \"test\"", se.State, se.EndReason)
		}
		evs, err := r.st.Audit().Query(ctx, store.AuditFilter{Kind: audit.KindKill})
		if err != nil || len(evs) != 1 || evs[0].Client != "admin:console:alice@secops" || evs[0].SessionID != "s1" {
			t.Fatalf("kill events = %+v, %v; want one by admin:console:alice@secops", evs, err)
		}
	})
}

func TestConsoleSecurityHeaders(t *testing.T) {
	r := newConsoleRig(t, storetest.Backends(t)[0])
	for _, path := range []string{"/console/login", "/console/static/console.js", "/console/decisions"} {
		resp, _ := r.get(t, path)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q admits inline script", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	// No inline script or style in any page: CSP would block it.
	_, csrf := r.login(t, testToken)
	_ = csrf
	for _, path := range []string{"/console/login", "/console/decisions", "/console/sessions", "/console/graph", "/console/audit"} {
		_, body := r.get(t, path)
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="|onclick=|onload=|onsubmit=`).MatchString(body) {
			t.Errorf("%s has inline script or style:\n%s", path, body)
		}
	}
}

// readSSE reads events (id, data) from an SSE stream until n have come.
func readSSE(t *testing.T, body io.Reader, n int) []audit.Event {
	t.Helper()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var out []audit.Event
	id := ""
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			var e struct {
				Seq  int64      `json:"seq"`
				Kind audit.Kind `json:"kind"`
				User string     `json:"user"`
				Args any        `json:"args"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				t.Fatalf("event data: %v", err)
			}
			if id != strconv.FormatInt(e.Seq, 10) {
				t.Fatalf("SSE id %q for event seq %d: the id must be the seq", id, e.Seq)
			}
			if e.Args != nil {
				t.Fatalf("event %d carries the raw arguments", e.Seq)
			}
			out = append(out, audit.Event{Seq: e.Seq, Kind: e.Kind, User: e.User})
		}
	}
	if len(out) < n {
		t.Fatalf("stream ended after %d events, want %d: %v", len(out), n, sc.Err())
	}
	return out
}

func TestConsoleStreamCatchUp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newConsoleRig(t, b)
		ctx := context.Background()
		appendN := func(user string, n int) {
			for range n {
				if err := r.st.Audit().Append(ctx, audit.Event{Kind: audit.KindAllow, User: user, Tool: "pay", Args: []byte(`{"amount":5}`)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		appendN("alice", 5)
		// Without a session or the admin token, no stream.
		if resp, _ := r.get(t, "/console/events"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("events without login = %d, want 401", resp.StatusCode)
		}
		// A reconnect after seq 3 (the admin token, as `legant watch` sends it).
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, r.url+"/console/events", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Last-Event-ID", "3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		got := readSSE(t, resp.Body, 2)
		if got[0].Seq != 4 || got[1].Seq != 5 {
			t.Fatalf("catch-up after Last-Event-ID 3 = %v, want seq 4, 5", got)
		}
		// Then what is appended live, in order.
		appendN("bob", 2)
		got = readSSE(t, resp.Body, 2)
		if got[0].Seq != 6 || got[1].Seq != 7 || got[0].User != "bob" {
			t.Fatalf("live events = %v, want seq 6, 7 of bob", got)
		}

		// The logged-in browser, filtered: only bob's, starting from the backlog.
		r.login(t, testToken)
		req, _ = http.NewRequestWithContext(sctx, http.MethodGet, r.url+"/console/events?backlog=100&user=bob", nil)
		resp2, err := r.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		got = readSSE(t, resp2.Body, 2)
		if got[0].Seq != 6 || got[1].Seq != 7 {
			t.Fatalf("filtered backlog = %v, want bob's seq 6, 7", got)
		}
		if resp, _ := r.get(t, "/console/events?after=x"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("after=x = %d, want 400", resp.StatusCode)
		}
	})
}

// TestClientWatch: admin.Client.Watch (what `legant watch` runs) receives
// the backlog and live events, filtered, and stops when told.
func TestClientWatch(t *testing.T) {
	r := newConsoleRig(t, storetest.Backends(t)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range []audit.Kind{audit.KindAllow, audit.KindDeny, audit.KindAllow} {
		if err := r.st.Audit().Append(ctx, audit.Event{Kind: k, User: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	c := &admin.Client{BaseURL: r.url, Token: testToken}
	var got []int64
	go func() {
		// Live: appended once the watch has started (it starts with the backlog).
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := r.st.Audit().Append(ctx, audit.Event{Kind: audit.KindDeny, User: "bob", Decision: "deny"}); err != nil {
				return
			}
		}
	}()
	errStop := io.EOF
	err := c.Watch(ctx, admin.WatchQuery{Backlog: 10, Filter: admin.EventFilter{Kinds: []audit.Kind{audit.KindDeny}}}, func(e audit.Event) error {
		if e.Kind != audit.KindDeny {
			t.Errorf("event %d of kind %s passed the filter", e.Seq, e.Kind)
		}
		got = append(got, e.Seq)
		if len(got) == 3 {
			return errStop
		}
		return nil
	})
	if err != errStop || got[0] != 2 || got[1] <= 3 || got[2] <= got[1] {
		t.Fatalf("Watch = %v with %v; want seq 2 (backlog) then live denials", err, got)
	}
	bad := &admin.Client{BaseURL: r.url, Token: testToken + "x"}
	err = bad.Watch(ctx, admin.WatchQuery{}, func(audit.Event) error { return nil })
	if e := (*admin.Error)(nil); !errorsAs(err, &e) || e.Status != http.StatusUnauthorized {
		t.Fatalf("Watch with a wrong token = %v, want a 401 *admin.Error", err)
	}
}

func TestConsoleGraphAndAudit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newConsoleRig(t, b)
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		max := authority.Unrestricted()
		m := authority.Money{Value: authority.MustDecimal("500"), Currency: "EUR"}
		max.MaxAmount = &m
		for _, g := range []store.Grant{
			{DelegationID: "d-root", User: "alice", Agents: []string{"planner"}, ClientID: "host", Resource: "https://x/mcp/work", Constraints: max, ExpiresAt: exp},
			{DelegationID: "d-sub", ParentID: "d-root", User: "alice", Agents: []string{"planner", "executor"}, ClientID: "host", Resource: "https://x/mcp/work", Constraints: authority.Unrestricted(), ExpiresAt: exp},
		} {
			if err := r.st.CreateGrant(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		_, csrf := r.login(t, testToken)
		_, body := r.get(t, "/console/graph")
		for _, want := range []string{"alice", "planner", "executor", "max amount: 500 EUR", "d-root", "d-sub"} {
			if !strings.Contains(body, want) {
				t.Errorf("graph lacks %q", want)
			}
		}
		if strings.Contains(body, "revoked</span>") {
			t.Fatalf("graph shows a revocation before any")
		}
		resp, _ := r.post(t, "/console/revoke", url.Values{"csrf": {csrf}, "value": {"d-root"}, "reason": {"compromised"}})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/graph") {
			t.Fatalf("revoke = %d → %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, body = r.get(t, "/console/graph")
		if n := strings.Count(body, `class="node revoked`); n != 2 {
			t.Fatalf("graph after revoking d-root draws %d revoked nodes, want 2 (the branch is cut)", n)
		}

		_, body = r.get(t, "/console/audit")
		if !strings.Contains(body, "Head</dt><dd>#") {
			t.Fatalf("audit page lacks the head")
		}
		_, body = r.post(t, "/console/audit/verify", url.Values{"csrf": {csrf}})
		if !strings.Contains(body, "Intact:") {
			t.Fatalf("verify now did not report an intact chain:\n%s", body)
		}
		resp, body = r.get(t, "/console/audit/export?from=1&to=0")
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) == 0 {
			t.Fatalf("export = %d %s %d lines", resp.StatusCode, resp.Header.Get("Content-Type"), len(lines))
		}
		var first audit.Event
		var seq struct{ Seq int64 }
		if json.Unmarshal([]byte(lines[0]), &seq) != nil || seq.Seq != 1 {
			t.Fatalf("export starts with %s, want seq 1", lines[0])
		}
		_ = first
		resp, body = r.get(t, "/console/events/1")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Position 1 of") {
			t.Fatalf("record 1 = %d", resp.StatusCode)
		}
	})
}

func errorsAs(err error, target **admin.Error) bool {
	e, ok := err.(*admin.Error)
	if ok {
		*target = e
	}
	return ok
}
