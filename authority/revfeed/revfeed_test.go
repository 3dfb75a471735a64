package revfeed_test

import (
	"errors"
	"go/build"
	"strings"
	"testing"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/revfeed"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func keys(t *testing.T) (*authority.Key, *authority.KeySet) {
	t.Helper()
	k, err := authority.GenerateEd25519Key("k1")
	if err != nil {
		t.Fatal(err)
	}
	ks := authority.NewKeySet()
	ks.Add(k, time.Time{})
	return k, ks
}

func TestSignVerify(t *testing.T) {
	k, ks := keys(t)
	entries := []revfeed.Entry{
		{Kind: revfeed.KindToken, Value: "t2"}, {Kind: revfeed.KindToken, Value: "t1"}, {Kind: revfeed.KindToken, Value: "t1"},
		{Kind: revfeed.KindUser, Value: "mallory"}, {Kind: "bogus", Value: "x"},
	}
	tok, err := revfeed.Sign(k, revfeed.NewFeed("https://issuer.test", 7, now, now.Add(5*time.Minute), entries))
	if err != nil {
		t.Fatal(err)
	}
	f, err := revfeed.Verify(tok, ks, now.Add(time.Minute), 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Tokens, ","); got != "t1,t2" || len(f.Users) != 1 || f.Agents == nil || f.Version != 7 {
		t.Errorf("feed = %+v", f)
	}

	tests := []struct {
		name string
		at   time.Time
		last int64
		want error
	}{
		{"expired", now.Add(6 * time.Minute), 0, revfeed.ErrExpired},
		{"rollback", now, 8, revfeed.ErrRollback},
		{"issued in the future", now.Add(-time.Minute), 0, revfeed.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := revfeed.Verify(tok, ks, tt.at, tt.last); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		other, err := authority.SignJWS(k, "legant-audit-anchor+jwt", revfeed.NewFeed("https://issuer.test", 9, now, now.Add(time.Minute), nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := revfeed.Verify(other, ks, now, 0); !errors.Is(err, revfeed.ErrInvalid) {
			t.Fatalf("Verify of another JWS type = %v, want ErrInvalid", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		_, ks2 := keys(t)
		if _, err := revfeed.Verify(tok, ks2, now, 0); !errors.Is(err, revfeed.ErrInvalid) {
			t.Fatalf("Verify with another key = %v, want ErrInvalid", err)
		}
	})
}

func TestSetRevoked(t *testing.T) {
	var s revfeed.Set
	s.Add(revfeed.Entry{Kind: revfeed.KindToken, Value: "jti-bad", Reason: "leaked"})
	s.Add(revfeed.Entry{Kind: revfeed.KindDelegation, Value: "d-bad"})
	s.Add(revfeed.Entry{Kind: revfeed.KindAgent, Value: "agent:rogue"})
	s.Add(revfeed.Entry{Kind: revfeed.KindUser, Value: "mallory"})
	claims := func(mod func(*authority.Claims)) *authority.Claims {
		c := &authority.Claims{Subject: "alice", ID: "jti-ok", DelegationID: "d-ok", ParentID: "d-root",
			Actor: authority.NewActor("agent:planner", "agent:executor")}
		mod(c)
		return c
	}
	tests := []struct {
		name    string
		c       *authority.Claims
		revoked bool
		why     string
	}{
		{"clean", claims(func(*authority.Claims) {}), false, ""},
		{"jti", claims(func(c *authority.Claims) { c.ID = "jti-bad" }), true, "token jti-bad revoked: leaked"},
		{"delegation", claims(func(c *authority.Claims) { c.DelegationID = "d-bad" }), true, "delegation d-bad revoked"},
		{"parent", claims(func(c *authority.Claims) { c.ParentID = "d-bad" }), true, "parent delegation d-bad revoked"},
		{"user", claims(func(c *authority.Claims) { c.Subject = "mallory" }), true, "user mallory revoked"},
		{"agent in chain", claims(func(c *authority.Claims) { c.Actor = authority.NewActor("agent:rogue", "agent:executor") }), true, "agent agent:rogue revoked"},
		{"empty ids never match", claims(func(c *authority.Claims) { c.ID, c.DelegationID, c.ParentID = "", "", "" }), false, ""},
		{"nil claims", nil, true, "no claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, revoked := s.Revoked(tt.c)
			if revoked != tt.revoked || why != tt.why {
				t.Fatalf("Revoked = %q, %v; want %q, %v", why, revoked, tt.why, tt.revoked)
			}
		})
	}
	added := s.Replace([]revfeed.Entry{{Kind: revfeed.KindUser, Value: "mallory"}, {Kind: revfeed.KindUser, Value: "eve"}})
	if len(added) != 1 || added[0].Value != "eve" || s.Len() != 2 {
		t.Fatalf("Replace added %v, len %d", added, s.Len())
	}
	if _, revoked := s.Revoked(claims(func(c *authority.Claims) { c.ID = "jti-bad" })); revoked {
		t.Fatal("an entry Replace dropped still revokes")
	}
}

// TestImports keeps the package light enough for the SDK: standard library
// and authority only.
func TestImports(t *testing.T) {
	pkg, err := build.Import("github.com/openlegant/legant/authority/revfeed", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && imp != "github.com/openlegant/legant/authority" {
			t.Errorf("revfeed imports %s; only the standard library and authority are allowed", imp)
		}
	}
}
