package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/sdk"
)

// fakeClock is the one hand-written fake: time, shared by the issuer's store
// and the Verifier so that rate limits and feed ages are exact.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testAudience = "https://api.example/expenses"

// testIssuer is a real issuer in process: the store (SQLite in a temporary
// directory) holds the signing keys and revocations and signs the feed with
// its FeedHandler, as `legant gateway` serves it at /.well-known/revoked; the
// JWKS endpoint publishes the store's key set like the gateway's jwksHandler.
type testIssuer struct {
	t     *testing.T
	st    *store.Store
	feedH http.Handler // st.FeedHandler(), with its cache
	srv   *httptest.Server
	clock *fakeClock
	url   string

	jwksFetches atomic.Int64
	feedFetches atomic.Int64
	// metadata, when set, makes the issuer publish RFC 8414 metadata whose
	// jwks_uri is /keys; otherwise the metadata endpoint answers 404.
	metadata atomic.Bool
	// feed, when set, is served instead of the store's feed (a replay).
	feed atomic.Pointer[[]byte]
	// feedDown makes the feed endpoint answer 503.
	feedDown atomic.Bool
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	ti := &testIssuer{t: t, clock: newClock()}
	// The listener exists before the store opens (the store signs with the
	// issuer URL); serving starts once every field is set.
	ti.srv = httptest.NewUnstartedServer(http.HandlerFunc(ti.serve))
	t.Cleanup(ti.srv.Close)
	ti.url = "http://" + ti.srv.Listener.Addr().String()
	st, err := store.Open(context.Background(), store.Options{
		DataDir:             t.TempDir(),
		KeyEncryptionSecret: []byte("0123456789abcdef0123456789abcdef"),
		Issuer:              ti.url,
		PollInterval:        -1,
		Now:                 ti.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ti.st, ti.feedH = st, st.FeedHandler()
	ti.srv.Start()
	return ti
}

func (ti *testIssuer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server":
		if !ti.metadata.Load() {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": ti.url, "jwks_uri": ti.url + "/keys"})
	case "/.well-known/jwks.json", "/keys":
		ti.jwksFetches.Add(1)
		ks, err := ti.st.KeySet(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b, err := ks.JWKS(ti.clock.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(b)
	case store.FeedPath:
		ti.feedFetches.Add(1)
		switch replay := ti.feed.Load(); {
		case ti.feedDown.Load():
			http.Error(w, "down", http.StatusServiceUnavailable)
		case replay != nil:
			w.Write(*replay)
		default:
			ti.feedH.ServeHTTP(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// verifier starts a Verifier against the issuer with the test clock.
func (ti *testIssuer) verifier(opts *sdk.VerifierOptions) *sdk.Verifier {
	ti.t.Helper()
	var o sdk.VerifierOptions
	if opts != nil {
		o = *opts
	}
	o.AllowHTTP = true
	if o.Now == nil {
		o.Now = ti.clock.Now
	}
	v, err := sdk.NewVerifier(context.Background(), ti.url, testAudience, &o)
	if err != nil {
		ti.t.Fatal(err)
	}
	ti.t.Cleanup(func() { v.Close() })
	return v
}

// claims are alice's delegation to planner then executor, with constraints.
func (ti *testIssuer) claims(mod func(*authority.Claims)) *authority.Claims {
	now := ti.clock.Now()
	c := &authority.Claims{
		Issuer: ti.url, Subject: "alice", Audience: []string{testAudience},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: randomID(),
		Scopes: []string{"expenses:write"}, Actor: authority.NewActor("planner", "executor"),
		DelegationID: randomID(),
		Constraints: authority.Constraints{
			Tools: authority.Only("submit_expense"), Resources: authority.AnyOf(), Categories: authority.AnyOf(),
			MaxAmount: &authority.Money{Value: authority.MustDecimal("500"), Currency: "USD"},
		},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

// mint signs claims with the issuer's current key.
func (ti *testIssuer) mint(c *authority.Claims) string {
	ti.t.Helper()
	ks, err := ti.st.KeySet(context.Background())
	if err != nil {
		ti.t.Fatal(err)
	}
	key, err := ks.Signer()
	if err != nil {
		ti.t.Fatal(err)
	}
	tok, err := authority.Sign(key, c)
	if err != nil {
		ti.t.Fatal(err)
	}
	return tok
}

func (ti *testIssuer) revoke(kind revfeed.Kind, value string) int64 {
	ti.t.Helper()
	revs, err := ti.st.Revoke(context.Background(), store.RevokeRequest{Kind: kind, Value: value, Reason: "test"})
	if err != nil {
		ti.t.Fatal(err)
	}
	if len(revs) == 0 {
		ti.t.Fatalf("revoke %s %s added nothing", kind, value)
	}
	return revs[len(revs)-1].Version
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
