package keydir_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

// clock is a hand-set clock for Options.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newClock() *clock { return &clock{time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)} }

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	c := newClock()
	e, err := keydir.Init(dir, keydir.Ed25519, &keydir.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if e.Alg != authority.AlgEdDSA || !e.Current || !e.Created.Equal(c.t) || !e.RetireAt.IsZero() {
		t.Fatalf("entry %+v", e)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, e.KID+".pem"), 0o600)
	list, err := keydir.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]keydir.Entry{e}, list); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}
	if _, err := keydir.Init(dir, keydir.Ed25519, nil); !errors.Is(err, keydir.ErrExists) {
		t.Fatalf("second Init = %v, want ErrExists", err)
	}
	ks, err := keydir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ks.Signer(); err != nil || s.ID() != e.KID {
		t.Fatalf("Signer = %v, %v", s, err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	opts := &keydir.Options{Now: c.now, RetireAfter: time.Hour}
	first, err := keydir.Init(dir, keydir.Ed25519, opts)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := keydir.Load(dir)
	signer, _ := ks.Signer()
	claims := &authority.Claims{Issuer: "https://issuer.example", Subject: "alice", Audience: []string{"https://gw.example"},
		ExpiresAt: c.t.Add(10 * time.Minute), Actor: authority.NewActor("planner"), Constraints: authority.Unrestricted()}
	oldTok, err := authority.Sign(signer, claims)
	if err != nil {
		t.Fatal(err)
	}

	c.t = c.t.Add(time.Minute)
	second, err := keydir.Rotate(dir, keydir.RSA, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Alg != authority.AlgRS256 || second.KID == first.KID {
		t.Fatalf("rotated entry %+v", second)
	}
	list, _ := keydir.List(dir)
	wantFirst := first
	wantFirst.Current, wantFirst.RetireAt = false, c.t.Add(time.Hour)
	if diff := cmp.Diff([]keydir.Entry{wantFirst, second}, list); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}
	ks, err = keydir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ks.Signer(); s.ID() != second.KID {
		t.Fatalf("Signer = %s, want the new key", s.ID())
	}
	opts2 := authority.VerifyOptions{Issuer: "https://issuer.example", Audience: "https://gw.example", RequireActor: true}
	if _, err := authority.Verify(oldTok, ks, opts2, c.t); err != nil {
		t.Fatalf("token of the previous key before its retire time: %v", err)
	}
	if _, ok := ks.Lookup(first.KID, c.t.Add(time.Hour)); ok {
		t.Fatal("previous key still verifies after its retire time")
	}

	// A later rotation removes the keys whose retire time has passed.
	c.t = c.t.Add(2 * time.Hour)
	third, err := keydir.Rotate(dir, keydir.Ed25519, opts)
	if err != nil {
		t.Fatal(err)
	}
	list, _ = keydir.List(dir)
	if len(list) != 2 || list[0].KID != second.KID || list[1].KID != third.KID {
		t.Fatalf("after pruning: %+v", list)
	}
	if _, err := os.Stat(filepath.Join(dir, first.KID+".pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired key file still there: %v", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, dir string, e keydir.Entry)
	}{
		{"readable key file", func(t *testing.T, dir string, e keydir.Entry) {
			if err := os.Chmod(filepath.Join(dir, e.KID+".pem"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing key file", func(t *testing.T, dir string, e keydir.Entry) {
			if err := os.Remove(filepath.Join(dir, e.KID+".pem")); err != nil {
				t.Fatal(err)
			}
		}},
		{"alg mismatch", func(t *testing.T, dir string, e keydir.Entry) {
			writeList(t, dir, `[{"kid":"`+e.KID+`","alg":"RS256","created":"2026-11-24T10:00:00Z","current":true}]`)
		}},
		{"no current key", func(t *testing.T, dir string, e keydir.Entry) {
			writeList(t, dir, `[{"kid":"`+e.KID+`","alg":"EdDSA","created":"2026-11-24T10:00:00Z","current":false}]`)
		}},
		{"kid escaping the directory", func(t *testing.T, dir string, e keydir.Entry) {
			writeList(t, dir, `[{"kid":"../x","alg":"EdDSA","created":"2026-11-24T10:00:00Z","current":true}]`)
		}},
		{"corrupt list", func(t *testing.T, dir string, e keydir.Entry) { writeList(t, dir, `{`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			e, err := keydir.Init(dir, keydir.Ed25519, nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.breakIt(t, dir, e)
			if _, err := keydir.Load(dir); err == nil {
				t.Fatal("Load succeeded")
			}
		})
	}
	if _, err := keydir.Load(t.TempDir()); err == nil {
		t.Fatal("Load of an empty directory succeeded")
	}
}

func writeList(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParseAlg(t *testing.T) {
	for in, want := range map[string]keydir.Alg{"ed25519": keydir.Ed25519, "rsa": keydir.RSA} {
		if got, err := keydir.ParseAlg(in); err != nil || got != want {
			t.Errorf("ParseAlg(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := keydir.ParseAlg("ecdsa"); err == nil {
		t.Error("ecdsa accepted")
	}
	if _, err := keydir.Init(t.TempDir(), "dsa", nil); err == nil {
		t.Error("Init with an unknown alg succeeded")
	}
}
