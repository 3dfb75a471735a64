package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/gateway/admin"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/issuer/store/storetest"
)

const testToken = "0123456789abcdef0123456789abcdef-admin"

// apiRig is an admin API on a real store, without a gateway in the process
// (kills then act through the store alone), and a client of it.
type apiRig struct {
	st     *store.Store
	client *admin.Client
	url    string
}

func newAPIRig(t *testing.T, b storetest.Backend) *apiRig {
	t.Helper()
	st := storetest.Open(t, b.Options(t))
	srv, err := admin.New(admin.Options{Store: st, Token: testToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &apiRig{st: st, url: hs.URL, client: &admin.Client{BaseURL: hs.URL, Token: testToken}}
}

// seed stores sessions: s1 alice/planner/jti-1 live, s2 alice/planner→executor
// on another upstream, s3 bob/other closed.
func (r *apiRig) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, se := range []store.Session{
		{ID: "s1", User: "alice", Agents: []string{"planner"}, Upstream: "expenses", TokenID: "jti-1", Client: "host"},
		{ID: "s2", User: "alice", Agents: []string{"planner", "executor"}, Upstream: "files", TokenID: "jti-2"},
		{ID: "s3", User: "bob", Agents: []string{"other"}, Upstream: "expenses", TokenID: "jti-3"},
	} {
		se.Started = start.Add(time.Duration(i) * time.Minute)
		if err := r.st.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.st.TouchSession(ctx, "s1", store.SessionActivity{Allowed: 2, Denied: 1, Spent: authority.MustDecimal("12.50"), At: start.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.CloseSession(ctx, "s3", "closed by client", start.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func ids(list []admin.Session) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.ID)
	}
	slices.Sort(out)
	return out
}

func TestSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		r := newAPIRig(t, b)
		r.seed(t)
		ctx := context.Background()
		tests := []struct {
			q    admin.SessionQuery
			want []string
		}{
			{admin.SessionQuery{}, []string{"s1", "s2", "s3"}},
			{admin.SessionQuery{User: "alice"}, []string{"s1", "s2"}},
			{admin.SessionQuery{Agent: "executor"}, []string{"s2"}},
			{admin.SessionQuery{Upstream: "expenses"}, []string{"s1", "s3"}},
			{admin.SessionQuery{State: "live"}, []string{"s1", "s2"}},
			{admin.SessionQuery{State: "closed"}, []string{"s3"}},
			{admin.SessionQuery{TokenID: "jti-2"}, []string{"s2"}},
			{admin.SessionQuery{User: "nobody"}, nil},
		}
		for _, tt := range tests {
			list, err := r.client.Sessions(ctx, tt.q)
			if err != nil {
				t.Fatalf("%+v: %v", tt.q, err)
			}
			if diff := cmp.Diff(tt.want, ids(list)); diff != "" {
				t.Errorf("%+v: (-want +got)\n%s", tt.q, diff)
			}
		}
		list, err := r.client.Sessions(ctx, admin.SessionQuery{Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != "s1" {
			t.Errorf("limit 1 = %v, %v; want the most recently active, s1", ids(list), err)
		}

		got, err := r.client.Session(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		want := admin.Session{ID: "s1", User: "alice", Agents: []string{"planner"}, Client: "host", Upstream: "expenses",
			TokenID: "jti-1", State: "live", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			LastActivity: time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC), CallsAllowed: 2, CallsDenied: 1, AmountSpent: "12.5"}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("GET s1 (-want +got)\n%s", diff)
		}
		var e *admin.Error
		if _, err := r.client.Session(ctx, "nope"); !errors.As(err, &e) || e.Status != http.StatusNotFound {
			t.Errorf("GET unknown session: %v, want 404", err)
		}
		for _, q := range []admin.SessionQuery{{State: "dead"}, {Limit: admin.MaxListLimit + 1}} {
			if _, err := r.client.Sessions(ctx, q); !errors.As(err, &e) || e.Status != http.StatusBadRequest {
				t.Errorf("%+v: %v, want 400", q, err)
			}
		}
	})
}

// TestAuthentication: every route wants the admin token, compared exactly.
func TestAuthentication(t *testing.T) {
	r := newAPIRig(t, storetest.Backends(t)[0])
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"none", nil, http.StatusUnauthorized},
		{"wrong token", []string{"Bearer " + strings.ToUpper(testToken)}, http.StatusUnauthorized},
		{"prefix of the token", []string{"Bearer " + testToken[:len(testToken)-1]}, http.StatusUnauthorized},
		{"token plus more", []string{"Bearer " + testToken + "x"}, http.StatusUnauthorized},
		{"wrong scheme", []string{"Basic " + testToken}, http.StatusUnauthorized},
		{"two headers", []string{"Bearer " + testToken, "Bearer " + testToken}, http.StatusUnauthorized},
		{"right", []string{"Bearer " + testToken}, http.StatusOK},
		{"scheme in lower case", []string{"bearer " + testToken}, http.StatusOK},
	}
	for _, tt := range tests {
		for _, path := range []string{"/v1/sessions", "/v1/sessions/x", "/v1/kill"} {
			method := http.MethodGet
			if path == "/v1/kill" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, r.url+path, strings.NewReader(`{}`))
			for _, h := range tt.header {
				req.Header.Add("Authorization", h)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			switch {
			case tt.want == http.StatusUnauthorized && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("%s %s: %d, want 401", tt.name, path, resp.StatusCode)
			case tt.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer"):
				t.Errorf("%s %s: no WWW-Authenticate", tt.name, path)
			case tt.want == http.StatusOK && resp.StatusCode == http.StatusUnauthorized:
				t.Errorf("%s %s: refused", tt.name, path)
			}
		}
	}
}

func TestNewRefusesWeakConfig(t *testing.T) {
	st := storetest.Open(t, storetest.Backends(t)[0].Options(t))
	for _, o := range []admin.Options{{Token: testToken}, {Store: st}, {Store: st, Token: "short"}} {
		if _, err := admin.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// TestKill covers each selector against the store: sessions marked killed,
// the revocation recorded (and delivered to a subscriber, as every replica's
// is), the kill audited with who and why.
func TestKill(t *testing.T) {
	tests := []struct {
		req       admin.KillRequest
		sessions  []string
		revoked   revfeed.Kind
		value     string
		auditUser string
	}{
		{admin.KillRequest{Session: "s1"}, []string{"s1"}, revfeed.KindToken, "jti-1", "alice"},
		{admin.KillRequest{TokenID: "jti-2"}, []string{"s2"}, revfeed.KindToken, "jti-2", ""},
		{admin.KillRequest{Agent: "planner"}, []string{"s1", "s2"}, revfeed.KindAgent, "planner", ""},
		{admin.KillRequest{User: "alice"}, []string{"s1", "s2"}, revfeed.KindUser, "alice", "alice"},
		{admin.KillRequest{User: "bob"}, nil, revfeed.KindUser, "bob", "bob"}, // s3 is closed already
		{admin.KillRequest{Delegation: "d-9"}, nil, revfeed.KindDelegation, "d-9", ""},
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		for _, tt := range tests {
			r := newAPIRig(t, b)
			r.seed(t)
			delivered := make(chan store.Revocation, 4)
			defer r.st.Revocations().Subscribe(func(rv store.Revocation) { delivered <- rv })()
			tt.req.Reason, tt.req.Actor = "incident 42", "secops"
			res, err := r.client.Kill(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("%+v: %v", tt.req, err)
			}
			got := slices.Clone(res.Sessions)
			slices.Sort(got)
			if diff := cmp.Diff(tt.sessions, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%+v: sessions (-want +got)\n%s", tt.req, diff)
			}
			if len(res.Revocations) != 1 || res.Revocations[0].Kind != string(tt.revoked) || res.Revocations[0].Value != tt.value {
				t.Errorf("%+v: revocations %+v", tt.req, res.Revocations)
			}
			if rv := <-delivered; rv.Kind != tt.revoked || rv.Value != tt.value || rv.Reason != "incident 42" {
				t.Errorf("%+v: delivered %+v", tt.req, rv)
			}
			for _, id := range tt.sessions {
				if se, _ := r.st.GetSession(context.Background(), id); se.State != store.SessionKilled || se.EndReason != "incident 42" {
					t.Errorf("%+v: session %s = %s %q", tt.req, id, se.State, se.EndReason)
				}
			}
			evs, err := r.st.Audit().Query(context.Background(), store.AuditFilter{Kind: audit.KindKill})
			if err != nil || len(evs) != 1 {
				t.Fatalf("%+v: kill events %+v, %v", tt.req, evs, err)
			}
			ev := evs[0]
			if ev.Client != "admin:secops" || ev.Reason != "incident 42" || ev.Method != "admin/kill" ||
				ev.Value != tt.value && ev.Value != tt.req.Session || ev.User != tt.auditUser {
				t.Errorf("%+v: kill event %+v", tt.req, ev)
			}
		}
	})
}

func TestKillRefusals(t *testing.T) {
	r := newAPIRig(t, storetest.Backends(t)[0])
	r.seed(t)
	tests := []struct {
		req  admin.KillRequest
		want int
	}{
		{admin.KillRequest{Reason: "no selector"}, http.StatusBadRequest},
		{admin.KillRequest{Agent: "a", User: "u", Reason: "two selectors"}, http.StatusBadRequest},
		{admin.KillRequest{Agent: "a"}, http.StatusBadRequest}, // no reason
		{admin.KillRequest{Agent: "a", Reason: strings.Repeat("x", 1001)}, http.StatusBadRequest},
		{admin.KillRequest{Agent: "a\x00", Reason: "nul"}, http.StatusBadRequest},
		{admin.KillRequest{Session: "unknown", Reason: "gone"}, http.StatusNotFound},
	}
	for _, tt := range tests {
		var e *admin.Error
		if _, err := r.client.Kill(context.Background(), tt.req); !errors.As(err, &e) || e.Status != tt.want {
			t.Errorf("%+v: %v, want %d", tt.req, err, tt.want)
		}
	}
	for _, body := range []string{`{"agent":"a","reason":"r","extra":1}`, `[`, ``} {
		req, _ := http.NewRequest(http.MethodPost, r.url+"/v1/kill", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: %d, want 400", body, resp.StatusCode)
		}
	}
	if n, _ := r.st.Audit().Query(context.Background(), store.AuditFilter{Kind: audit.KindKill}); len(n) != 0 {
		t.Errorf("refused kills were audited as kills: %+v", n)
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", admin.TokenFile)
	tok, created, err := admin.EnsureToken(path)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("EnsureToken = %q, %v, %v", tok, created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v, %v", fi.Mode(), err)
	}
	again, created, err := admin.EnsureToken(path)
	if err != nil || created || again != tok {
		t.Fatalf("second EnsureToken = %q, %v, %v; want the same token", again, created, err)
	}
	loose := filepath.Join(dir, "loose")
	os.WriteFile(loose, []byte(tok), 0o644)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, p := range []string{loose, short, filepath.Join(dir, "missing")} {
		if _, err := admin.ReadToken(p); err == nil {
			t.Errorf("ReadToken(%s) accepted", p)
		}
	}
}
