package keydir_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/issuer/keydir"
)

// TestEnsure: the first call creates the directory and its key, later calls
// load the same keys and create nothing.
func TestEnsure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gateway-keys")
	c := newClock()
	ks, created, err := keydir.Ensure(dir, keydir.Ed25519, &keydir.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if created == nil || created.Alg != authority.AlgEdDSA || !created.Current || !created.Created.Equal(c.t) {
		t.Fatalf("first Ensure created %+v", created)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, created.KID+".pem"), 0o600)
	if s, err := ks.Signer(); err != nil || s.ID() != created.KID {
		t.Fatalf("Signer = %v, %v; want %s", s, err, created.KID)
	}

	again, created2, err := keydir.Ensure(dir, keydir.RSA, nil)
	if err != nil || created2 != nil {
		t.Fatalf("second Ensure: created %+v, %v", created2, err)
	}
	if s, err := again.Signer(); err != nil || s.ID() != created.KID || s.Algorithm() != authority.AlgEdDSA {
		t.Fatalf("second Ensure signs with %v, %v; want the first key", s, err)
	}
	if list, err := keydir.List(dir); err != nil || len(list) != 1 {
		t.Fatalf("keys after two Ensures: %+v, %v", list, err)
	}
}

// TestEnsureRefusesBrokenDir: an existing but unreadable directory is an
// error, never silently replaced by new keys.
func TestEnsureRefusesBrokenDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := keydir.Ensure(dir, keydir.Ed25519, nil); err == nil {
		t.Fatal("Ensure accepted a corrupt keys.json")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keys.json")); string(b) != "not json" {
		t.Fatalf("keys.json rewritten: %q", b)
	}
}

// TestEnsureSecretFile: the first call writes 256 random bits (hex) into a
// new 0600 file under a new 0700 directory; later calls read the same secret.
func TestEnsureSecretFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "secret")
	secret, created, err := keydir.EnsureSecretFile(path)
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	if raw, err := hex.DecodeString(string(secret)); err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 bytes of hex: %v", secret, err)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, path, 0o600)
	if b, _ := os.ReadFile(path); string(b) != string(secret)+"\n" {
		t.Fatalf("file holds %q, secret %q", b, secret)
	}
	again, created, err := keydir.EnsureSecretFile(path)
	if err != nil || created || !bytes.Equal(again, secret) {
		t.Fatalf("second call: %q created %v, %v; want %q", again, created, err, secret)
	}
	other, _, err := keydir.EnsureSecretFile(filepath.Join(dir, "other"))
	if err != nil || bytes.Equal(other, secret) {
		t.Fatalf("a second file got %q, %v", other, err)
	}
}

// TestEnsureSecretFileKeepsExisting: a secret put there by an operator is
// read as it is (trimmed), never replaced.
func TestEnsureSecretFileKeepsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(path, []byte("  operator-chosen-secret\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, created, err := keydir.EnsureSecretFile(path)
	if err != nil || created || string(secret) != "operator-chosen-secret" {
		t.Fatalf("got %q created %v, %v", secret, created, err)
	}
	if _, _, err := keydir.EnsureSecretFile(t.TempDir()); err == nil {
		t.Fatal("a directory read as a secret file")
	}
}

// TestEnsureSecretFileConcurrent: callers racing on a missing file all end
// with the one secret that was written, and exactly one of them wrote it.
func TestEnsureSecretFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	const n = 8
	var (
		wg      sync.WaitGroup
		secrets [n][]byte
		created [n]bool
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() { secrets[i], created[i], errs[i] = keydir.EnsureSecretFile(path) })
	}
	wg.Wait()
	writers := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if created[i] {
			writers++
		}
		if !bytes.Equal(secrets[i], secrets[0]) || len(secrets[i]) != 64 {
			t.Fatalf("caller %d got %q, caller 0 %q", i, secrets[i], secrets[0])
		}
	}
	if writers != 1 {
		t.Fatalf("%d callers wrote the file, want 1", writers)
	}
	if entries, err := os.ReadDir(filepath.Dir(path)); err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %v, %v; want the secret file alone", entries, err)
	}
}
