package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
	"github.com/openlegant/legant/issuer/store"
	"github.com/openlegant/legant/policy"
	"github.com/openlegant/legant/sdk"
)

func TestVerifyAndAuthorize(t *testing.T) {
	ti := newTestIssuer(t)
	v := ti.verifier(nil)
	ctx := context.Background()
	c, err := v.Verify(ctx, ti.mint(ti.claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Provenance(), "user:alice → agent:planner → agent:executor"; got != want {
		t.Errorf("Provenance = %q, want %q", got, want)
	}
	tests := []struct {
		name   string
		action sdk.Action
		reason policy.Reason
		msg    string
	}{
		{"allowed", sdk.Action{Tool: "submit_expense", Amount: "499.99", Currency: "USD"}, policy.ReasonAllowed, ""},
		{"amount", sdk.Action{Tool: "submit_expense", Amount: "700", Currency: "USD"}, policy.ReasonMaxAmount,
			"denied: amount 700 exceeds max_amount 500"},
		{"currency", sdk.Action{Tool: "submit_expense", Amount: "7", Currency: "EUR"}, policy.ReasonCurrency, ""},
		{"tool", sdk.Action{Tool: "delete_all"}, policy.ReasonToolNotAllowed, ""},
		{"scope", sdk.Action{Tool: "submit_expense", Scope: "expenses:admin"}, policy.ReasonInsufficientScope, ""},
		{"bad amount", sdk.Action{Tool: "submit_expense", Amount: "5e2", Currency: "USD"}, policy.ReasonInvalidArgument, ""},
		{"negative amount", sdk.Action{Tool: "submit_expense", Amount: "-1", Currency: "USD"}, policy.ReasonInvalidArgument, ""},
		{"currency without amount", sdk.Action{Tool: "submit_expense", Currency: "USD"}, policy.ReasonInvalidArgument, ""},
		{"no tool", sdk.Action{}, policy.ReasonToolNotBound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sdk.Authorize(c, tt.action)
			if d.Reason != tt.reason || d.Allow != (tt.reason == policy.ReasonAllowed) {
				t.Fatalf("Authorize = %+v, want reason %s", d, tt.reason)
			}
			if tt.msg != "" && d.Message != tt.msg {
				t.Errorf("Message = %q, want %q", d.Message, tt.msg)
			}
		})
	}
}

// TestAuthorizeMatchesGateway holds Authorize against policy.Decide for a
// gateway tool bound at the same arguments: one decision code, one result.
func TestAuthorizeMatchesGateway(t *testing.T) {
	ti := newTestIssuer(t)
	c := ti.claims(func(c *authority.Claims) {
		c.Constraints.Categories = authority.Only("travel")
		c.Constraints.Resources = authority.Only("https://files.example/receipts")
	})
	gw := &policy.Binding{Tool: "submit_expense", Scope: "expenses:write",
		Amount:   &policy.AmountBinding{Value: policy.MustPointer("/amount"), CurrencyPointer: policy.MustPointer("/currency")},
		Category: policy.MustPointer("/category"),
		Resource: &policy.ResourceBinding{Value: policy.MustPointer("/resource"), Kind: policy.ResourceURL}}
	at := ti.clock.Now()
	for _, s := range []policy.Sample{
		{Amount: "100", Currency: "USD", Category: "Travel", Resource: "HTTPS://files.example/receipts/"},
		{Amount: "500.01", Currency: "USD", Category: "travel", Resource: "https://files.example/receipts"},
		{Amount: "1", Currency: "usd", Category: "travel", Resource: "https://files.example/receipts"},
		{Amount: "1", Currency: "USD", Category: "meals", Resource: "https://files.example/receipts"},
		{Amount: "1", Currency: "USD", Category: "travel", Resource: "https://files.example/payroll"},
		{Amount: "1", Currency: "USD", Category: "travel", Resource: "not a url"},
	} {
		call, err := policy.SampleCall(gw, "submit_expense", s, at)
		if err != nil {
			t.Fatal(err)
		}
		want := policy.Decide(c, gw, call)
		got := sdk.Authorize(c, sdk.Action{Tool: "submit_expense", Scope: "expenses:write", Amount: s.Amount,
			Currency: s.Currency, Category: s.Category, Resource: s.Resource, ResourceKind: policy.ResourceURL, At: at})
		if got.Allow != want.Allow || got.Reason != want.Reason || got.Message != want.Message {
			t.Errorf("%+v: Authorize = %v %s %q; gateway policy = %v %s %q", s, got.Allow, got.Reason, got.Message,
				want.Allow, want.Reason, want.Message)
		}
	}
}

func TestDiscovery(t *testing.T) {
	t.Run("metadata 404 falls back to jwks.json", func(t *testing.T) {
		ti := newTestIssuer(t)
		v := ti.verifier(nil)
		if _, err := v.Verify(context.Background(), ti.mint(ti.claims(nil))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RFC 8414 jwks_uri", func(t *testing.T) {
		ti := newTestIssuer(t)
		ti.metadata.Store(true)
		ti.verifier(nil)
		if hits := ti.jwksFetches.Load(); hits != 1 {
			t.Fatalf("JWKS fetches = %d, want 1 (from jwks_uri)", hits)
		}
	})
	t.Run("metadata naming another issuer", func(t *testing.T) {
		ti := newTestIssuer(t)
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"issuer":"https://evil.example","jwks_uri":%q}`, ti.url+"/keys")
		}))
		defer other.Close()
		_, err := sdk.NewVerifier(context.Background(), other.URL, testAudience, &sdk.VerifierOptions{AllowHTTP: true})
		if err == nil || !strings.Contains(err.Error(), "names issuer") {
			t.Fatalf("NewVerifier = %v, want an issuer mismatch", err)
		}
	})
	t.Run("https required", func(t *testing.T) {
		ti := newTestIssuer(t)
		_, err := sdk.NewVerifier(context.Background(), ti.url, testAudience, nil)
		if err == nil || !strings.Contains(err.Error(), "https is required") {
			t.Fatalf("NewVerifier over http = %v, want https required", err)
		}
	})
	t.Run("oversized JWKS", func(t *testing.T) {
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[],"pad":"`))
			w.Write([]byte(strings.Repeat("x", sdk.MaxDocumentSize)))
			w.Write([]byte(`"}`))
		}))
		defer big.Close()
		_, err := sdk.NewVerifier(context.Background(), big.URL, testAudience,
			&sdk.VerifierOptions{AllowHTTP: true, JWKSURL: big.URL + "/jwks"})
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("NewVerifier = %v, want a size error", err)
		}
	})
}

// TestKeyRotation: the issuer rotates mid-run. Tokens of the new key verify
// after one JWKS fetch, however many arrive; tokens of the old key keep
// verifying until it retires.
func TestKeyRotation(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	v := ti.verifier(&sdk.VerifierOptions{JWKSInterval: 24 * time.Hour})
	if n := ti.jwksFetches.Load(); n != 1 {
		t.Fatalf("JWKS fetches after start = %d, want 1", n)
	}
	old := ti.mint(ti.claims(func(c *authority.Claims) { c.ExpiresAt = c.IssuedAt.Add(48 * time.Hour) }))
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}

	ti.clock.Advance(time.Hour)
	if _, err := ti.st.RotateKey(ctx, store.RotateOptions{Overlap: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			_, err := v.Verify(ctx, ti.mint(ti.claims(nil)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("token of the new key: %v", err)
		}
	}
	if n := ti.jwksFetches.Load(); n != 2 {
		t.Fatalf("JWKS fetches after 64 tokens of the new key = %d, want 2 (the new kid fetched once)", n)
	}
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token of the old key before it retires: %v", err)
	}

	ti.clock.Advance(2*time.Hour + time.Second) // the old key retires
	if err := v.RefreshKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, authority.ErrUnknownKey) {
		t.Fatalf("token of the retired key = %v, want ErrUnknownKey", err)
	}
	if n := ti.jwksFetches.Load(); n != 3 {
		t.Fatalf("JWKS fetches = %d, want 3 (the retired kid is not refetched within MinRefreshInterval)", n)
	}
}

// TestBogusKidFlood: tokens naming unknown kids cause at most one JWKS fetch
// per MinRefreshInterval, however many arrive at once.
func TestBogusKidFlood(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	v := ti.verifier(&sdk.VerifierOptions{MinRefreshInterval: 30 * time.Second, JWKSInterval: 24 * time.Hour})
	bogus := make([]string, 200)
	for i := range bogus {
		k, err := authority.GenerateEd25519Key(fmt.Sprintf("bogus-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if bogus[i], err = authority.Sign(k, ti.claims(nil)); err != nil {
			t.Fatal(err)
		}
	}
	flood := func() {
		var wg sync.WaitGroup
		for _, tok := range bogus {
			wg.Go(func() {
				if _, err := v.Verify(ctx, tok); !errors.Is(err, authority.ErrUnknownKey) {
					t.Errorf("bogus kid: %v, want ErrUnknownKey", err)
				}
			})
		}
		wg.Wait()
	}
	steps := []struct {
		advance time.Duration
		fetches int64
	}{
		{0, 1},                // within the interval of the start-up fetch: none
		{31 * time.Second, 2}, // one refresh for 200 tokens
		{10 * time.Second, 2}, // 10s later: still rate-limited
		{25 * time.Second, 3}, // 35s after the refresh: one more
		{time.Millisecond, 3},
	}
	for i, s := range steps {
		ti.clock.Advance(s.advance)
		flood()
		if n := ti.jwksFetches.Load(); n != s.fetches {
			t.Fatalf("step %d: JWKS fetches = %d, want %d", i, n, s.fetches)
		}
	}
}

// TestRevocationWithinOnePoll: a revocation made at the issuer refuses the
// token at the first poll that starts after it.
func TestRevocationWithinOnePoll(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	polls := make(chan sdk.FeedStatus, 100)
	v := ti.verifier(&sdk.VerifierOptions{FeedInterval: 5 * time.Millisecond, OnFeed: func(s sdk.FeedStatus) {
		select {
		case polls <- s:
		default: // the test reads only what it needs
		}
	}})
	tok := ti.mint(ti.claims(nil))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	drain(polls)
	version := ti.revoke(revfeed.KindAgent, "executor")
	// Polls that completed while the revocation was being written started
	// before it: drop them. Of the polls still to come, the first may have
	// started before the revocation returned; the second started after it.
	drain(polls)
	for i := 0; ; i++ {
		s := <-polls
		if s.Err != nil {
			t.Fatalf("poll: %v", s.Err)
		}
		if s.Version >= version {
			break
		}
		if i == 1 {
			t.Fatalf("two polls after the revocation, feed version %d < %d", s.Version, version)
		}
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrRevoked) {
		t.Fatalf("Verify after revocation = %v, want ErrRevoked", err)
	}
}

func drain(c chan sdk.FeedStatus) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestRevocationKinds(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	v := ti.verifier(nil)
	mk := func(mod func(*authority.Claims)) string { return ti.mint(ti.claims(mod)) }
	byJTI := ti.claims(nil)
	tests := []struct {
		name  string
		token string
		kind  revfeed.Kind
		value string
	}{
		{"jti", ti.mint(byJTI), revfeed.KindToken, byJTI.ID},
		{"delegation", mk(func(c *authority.Claims) { c.DelegationID = "d-1" }), revfeed.KindDelegation, "d-1"},
		{"parent delegation", mk(func(c *authority.Claims) { c.ParentID = "d-0" }), revfeed.KindDelegation, "d-0"},
		{"agent", mk(func(c *authority.Claims) { c.Actor = authority.NewActor("rogue") }), revfeed.KindAgent, "rogue"},
		{"user", mk(func(c *authority.Claims) { c.Subject = "mallory" }), revfeed.KindUser, "mallory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, tt.token); err != nil {
				t.Fatal(err)
			}
			ti.revoke(tt.kind, tt.value)
			if err := v.RefreshFeed(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, tt.token); !errors.Is(err, sdk.ErrRevoked) {
				t.Fatalf("Verify = %v, want ErrRevoked", err)
			}
		})
	}
	if _, err := v.Verify(ctx, ti.mint(ti.claims(nil))); err != nil {
		t.Fatalf("a token nothing revokes: %v", err)
	}
}

// TestFeedRollback: an older feed replayed by the network (or a stale
// cache) is refused, and the newer revocations stay in force.
func TestFeedRollback(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	v := ti.verifier(nil)
	old, err := ti.st.Feed(ctx, ti.clock.Now()) // version 0: nothing revoked
	if err != nil {
		t.Fatal(err)
	}
	c := ti.claims(nil)
	tok := ti.mint(c)
	version := ti.revoke(revfeed.KindToken, c.ID)
	if err := v.RefreshFeed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrRevoked) {
		t.Fatalf("Verify = %v, want ErrRevoked", err)
	}
	ti.feed.Store(&old)
	if err := v.RefreshFeed(ctx); !errors.Is(err, revfeed.ErrRollback) {
		t.Fatalf("RefreshFeed with the older feed = %v, want ErrRollback", err)
	}
	if st := v.FeedStatus(); st.Version != version || !errors.Is(st.Err, revfeed.ErrRollback) {
		t.Fatalf("FeedStatus = %+v, want version %d and the rollback error", st, version)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrRevoked) {
		t.Fatalf("Verify after the rollback attempt = %v, want ErrRevoked", err)
	}
}

func TestFeedFromAnotherIssuerRefused(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	v := ti.verifier(nil)
	ks, err := ti.st.KeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ks.Signer()
	tok, err := revfeed.Sign(key, revfeed.NewFeed("https://other.example", 99, ti.clock.Now(), ti.clock.Now().Add(time.Minute), nil))
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(tok)
	ti.feed.Store(&b)
	if err := v.RefreshFeed(ctx); !errors.Is(err, revfeed.ErrInvalid) {
		t.Fatalf("RefreshFeed = %v, want ErrInvalid (other issuer)", err)
	}
	if v.FeedStatus().Version == 99 {
		t.Fatal("a feed of another issuer was accepted")
	}
}

// TestFeedStaleness: by default a stale feed fails open (tokens verify, the
// last revocations apply); RequireFreshFeed fails closed until a fresh feed
// arrives.
func TestFeedStaleness(t *testing.T) {
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprintf("RequireFreshFeed=%v", required), func(t *testing.T) {
			ti := newTestIssuer(t)
			ctx := context.Background()
			v := ti.verifier(&sdk.VerifierOptions{RequireFreshFeed: required, FeedInterval: time.Hour,
				MaxFeedAge: 2 * time.Minute})
			tok := ti.mint(ti.claims(func(c *authority.Claims) { c.ExpiresAt = c.IssuedAt.Add(24 * time.Hour) }))
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			ti.feedDown.Store(true)
			ti.clock.Advance(3 * time.Minute)
			if err := v.RefreshFeed(ctx); err == nil {
				t.Fatal("RefreshFeed succeeded with the feed down")
			}
			if age := v.FeedAge(); age != 3*time.Minute {
				t.Fatalf("FeedAge = %v, want 3m", age)
			}
			_, err := v.Verify(ctx, tok)
			if required != errors.Is(err, sdk.ErrFeedStale) || (!required && err != nil) {
				t.Fatalf("Verify with a stale feed = %v (RequireFreshFeed %v)", err, required)
			}
			ti.feedDown.Store(false)
			if err := v.RefreshFeed(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("Verify once the feed is fresh again: %v", err)
			}
		})
	}
}

func TestFeedAgeBeforeFirstFeed(t *testing.T) {
	ti := newTestIssuer(t)
	ti.feedDown.Store(true)
	v := ti.verifier(&sdk.VerifierOptions{RequireFreshFeed: true})
	if v.FeedAge() < 1<<62 {
		t.Fatalf("FeedAge without a feed = %v, want infinite", v.FeedAge())
	}
	if _, err := v.Verify(context.Background(), ti.mint(ti.claims(nil))); !errors.Is(err, sdk.ErrFeedStale) {
		t.Fatalf("Verify = %v, want ErrFeedStale", err)
	}
}

func TestCloseStopsPolling(t *testing.T) {
	ti := newTestIssuer(t)
	polled := make(chan struct{}, 1)
	var polls atomic.Int64
	v := ti.verifier(&sdk.VerifierOptions{FeedInterval: time.Millisecond, OnFeed: func(sdk.FeedStatus) {
		polls.Add(1)
		select {
		case polled <- struct{}{}:
		default:
		}
	}})
	<-polled
	<-polled // a poll from the background goroutine
	v.Close()
	// Close waits for the polling goroutine: no poll completes after it
	// returns. (The issuer may still see a request Close cancelled in
	// flight, so polls are counted on the Verifier's side.)
	n := polls.Load()
	v.Close() // idempotent
	if _, err := v.Verify(context.Background(), ti.mint(ti.claims(nil))); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
	for range 3 {
		if _, err := v.Verify(context.Background(), ti.mint(ti.claims(nil))); err != nil {
			t.Fatal(err)
		}
	}
	if polls.Load() != n {
		t.Fatal("the Verifier polled the feed after Close returned")
	}
}

func TestCachedTokenExpires(t *testing.T) {
	ti := newTestIssuer(t)
	ctx := context.Background()
	v := ti.verifier(nil)
	tok := ti.mint(ti.claims(func(c *authority.Claims) { c.ExpiresAt = c.IssuedAt.Add(time.Minute) }))
	for range 2 { // verified, then served from the cache
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	ti.clock.Advance(time.Minute + authority.DefaultLeeway + time.Second)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, authority.ErrExpired) {
		t.Fatalf("Verify after exp = %v, want ErrExpired", err)
	}
}

// TestOfflineFiles: JWKSFile and FeedFile replace the issuer's endpoints for
// setups without network access to it; the feed file's rollback is refused
// as over HTTP.
func TestOfflineFiles(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	key, err := authority.GenerateEd25519Key("offline-1")
	if err != nil {
		t.Fatal(err)
	}
	ks := authority.NewKeySet()
	ks.Add(key, time.Time{})
	jwks, err := ks.JWKS(clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	jwksFile, feedFile := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "revoked.jwt")
	writeFile(t, jwksFile, jwks)
	const issuer = "https://issuer.example"
	writeFeed := func(version int64, entries ...revfeed.Entry) {
		tok, err := revfeed.Sign(key, revfeed.NewFeed(issuer, version, clock.Now(), clock.Now().Add(time.Hour), entries))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, feedFile, []byte(tok+"\n"))
	}
	writeFeed(1)
	v, err := sdk.NewVerifier(context.Background(), issuer, testAudience, &sdk.VerifierOptions{
		JWKSFile: jwksFile, FeedFile: feedFile, Now: clock.Now, RequireFreshFeed: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now := clock.Now()
	tok, err := authority.Sign(key, &authority.Claims{Issuer: issuer, Subject: "alice", Audience: []string{testAudience},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour), ID: "t1", Actor: authority.NewActor("planner"),
		Scopes: []string{"expenses:write"}, Constraints: authority.Unrestricted()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	writeFeed(2, revfeed.Entry{Kind: revfeed.KindUser, Value: "alice"})
	if err := v.RefreshFeed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrRevoked) {
		t.Fatalf("Verify = %v, want ErrRevoked", err)
	}
	writeFeed(1)
	if err := v.RefreshFeed(ctx); !errors.Is(err, revfeed.ErrRollback) {
		t.Fatalf("RefreshFeed of an older file = %v, want ErrRollback", err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sdk.ErrRevoked) {
		t.Fatalf("Verify after the rollback attempt = %v, want ErrRevoked", err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
