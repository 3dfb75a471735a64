package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/openlegant/legant/authority"
	"github.com/openlegant/legant/authority/audit"
)

// DefaultKeyOverlap is how long a rotated-out key keeps verifying.
const DefaultKeyOverlap = 24 * time.Hour

// keyCacheTTL bounds how long decrypted keys are reused before the table is
// read again (rotations by other replicas are picked up within it).
const keyCacheTTL = time.Minute

// keyRing loads, decrypts and caches the signing keys. Safe for concurrent use.
type keyRing struct {
	s      *Store
	sealer *sealer // nil without a secret

	mu       sync.Mutex
	keys     []storedKey // oldest first
	loadedAt time.Time   // zero: not loaded
}

type storedKey struct {
	key      *authority.Key
	retireAt time.Time // zero: never
}

func newKeyRing(ctx context.Context, s *Store, secret []byte) (*keyRing, error) {
	kr := &keyRing{s: s}
	if len(secret) == 0 {
		return kr, nil
	}
	sl, err := newSealer(ctx, s, secret)
	if err != nil {
		return nil, err
	}
	kr.sealer = sl
	return kr, nil
}

// KeySet returns the signing keys not retired at now: the newest unretired
// key signs, every one verifies until its retire time. The first call on an
// empty store generates an Ed25519 key. The result is the caller's to keep
// (a fresh KeySet each call).
func (s *Store) KeySet(ctx context.Context) (*authority.KeySet, error) {
	keys, err := s.keys.load(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	ks := authority.NewKeySet()
	for _, k := range keys {
		if k.retireAt.IsZero() || now.Before(k.retireAt) {
			ks.Add(k.key, k.retireAt)
		}
	}
	return ks, nil
}

// historicKeySet holds every stored key with no retire time: for checking
// signatures on audit records made by keys retired since.
func (s *Store) historicKeySet(ctx context.Context) (*authority.KeySet, error) {
	keys, err := s.keys.load(ctx)
	if err != nil {
		return nil, err
	}
	ks := authority.NewKeySet()
	for _, k := range keys {
		ks.Add(k.key, time.Time{})
	}
	return ks, nil
}

// signer returns the current signing key.
func (s *Store) signer(ctx context.Context) (*authority.Key, error) {
	ks, err := s.KeySet(ctx)
	if err != nil {
		return nil, err
	}
	return ks.Signer()
}

func (kr *keyRing) load(ctx context.Context) ([]storedKey, error) {
	if kr.sealer == nil {
		return nil, ErrNoKeySecret
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if !kr.loadedAt.IsZero() && kr.s.now().Sub(kr.loadedAt) < keyCacheTTL {
		return kr.keys, nil
	}
	keys, err := kr.readLocked(ctx)
	if err == nil && len(keys) == 0 {
		if err = kr.bootstrapLocked(ctx); err == nil {
			keys, err = kr.readLocked(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	kr.keys, kr.loadedAt = keys, kr.s.now()
	return keys, nil
}

// invalidate makes the next load read the table.
func (kr *keyRing) invalidate() {
	kr.mu.Lock()
	kr.loadedAt = time.Time{}
	kr.mu.Unlock()
}

func (kr *keyRing) readLocked(ctx context.Context) ([]storedKey, error) {
	rows, err := kr.s.db.QueryContext(ctx, `SELECT kid, alg, sealed, retire_ns FROM signing_keys ORDER BY created_ns, kid`)
	if err != nil {
		return nil, fmt.Errorf("store: read signing keys: %w", err)
	}
	defer rows.Close()
	var out []storedKey
	for rows.Next() {
		var kid, alg string
		var sealed []byte
		var retire int64
		if err := rows.Scan(&kid, &alg, &sealed, &retire); err != nil {
			return nil, err
		}
		pem, err := kr.sealer.open(sealed, keyAAD(kid, alg))
		if err != nil {
			return nil, fmt.Errorf("store: signing key %s does not decrypt (corrupt row or a key from another store)", kid)
		}
		k, err := authority.ParsePrivateKeyPEM(kid, pem)
		if err != nil {
			return nil, fmt.Errorf("store: signing key %s: %w", kid, err)
		}
		out = append(out, storedKey{key: k, retireAt: fromNanos(retire)})
	}
	return out, rows.Err()
}

// bootstrapLocked creates the first key; of concurrent bootstraps (replicas
// starting together) exactly one inserts.
func (kr *keyRing) bootstrapLocked(ctx context.Context) error {
	k, err := authority.GenerateEd25519Key(newKeyID())
	if err != nil {
		return err
	}
	return kr.s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO store_meta (name, value) VALUES ('bootstrap_key', $1) ON CONFLICT (name) DO NOTHING`, k.ID())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another process created the first key
		}
		return kr.insertTx(ctx, tx, k)
	})
}

func (kr *keyRing) insertTx(ctx context.Context, tx *sql.Tx, k *authority.Key) error {
	pem, err := k.MarshalPrivatePEM()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, alg, sealed, created_ns) VALUES ($1, $2, $3, $4)`,
		k.ID(), k.Algorithm(), kr.sealer.seal(pem, keyAAD(k.ID(), k.Algorithm())), kr.s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("store: insert signing key: %w", err)
	}
	return nil
}

// keyAAD binds a sealed key to its row, so rows cannot be swapped.
func keyAAD(kid, alg string) []byte { return []byte("legant-signing-key\x00" + kid + "\x00" + alg) }

func newKeyID() string {
	return time.Now().UTC().Format("20060102") + "-" + authority.NewID()[:16]
}

// RotateOptions configure RotateKey.
type RotateOptions struct {
	// Algorithm of the new key: authority.AlgEdDSA ("" means EdDSA) or authority.AlgRS256.
	Algorithm string
	// RSABits for RS256; 0 means 3072.
	RSABits int
	// Overlap is how long the keys being replaced keep verifying; 0 means
	// DefaultKeyOverlap.
	Overlap time.Duration
}

// RotateKey adds a new signing key, which signs from now on, and schedules
// every key without a retire time to retire after the overlap. It records a
// key_rotation audit event and returns the new key id.
func (s *Store) RotateKey(ctx context.Context, opts RotateOptions) (string, error) {
	if s.keys.sealer == nil {
		return "", ErrNoKeySecret
	}
	k, err := generateKey(opts)
	if err != nil {
		return "", err
	}
	overlap := opts.Overlap
	if overlap == 0 {
		overlap = DefaultKeyOverlap
	}
	retire := s.now().Add(overlap)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_ns = $1 WHERE retire_ns = 0`, retire.UnixNano()); err != nil {
			return err
		}
		return s.keys.insertTx(ctx, tx, k)
	})
	s.keys.invalidate()
	if err != nil {
		return "", fmt.Errorf("store: rotate key: %w", err)
	}
	reason := fmt.Sprintf("new %s key %s; previous keys retire at %s", k.Algorithm(), k.ID(), retire.UTC().Format(time.RFC3339))
	return k.ID(), s.audit.Append(ctx, audit.Event{Kind: audit.KindKeyRotation, Decision: "rotate", Reason: reason})
}

func generateKey(opts RotateOptions) (*authority.Key, error) {
	switch opts.Algorithm {
	case "", authority.AlgEdDSA:
		return authority.GenerateEd25519Key(newKeyID())
	case authority.AlgRS256:
		bits := opts.RSABits
		if bits == 0 {
			bits = 3072
		}
		return authority.GenerateRSAKey(newKeyID(), bits)
	}
	return nil, fmt.Errorf("store: unsupported key algorithm %q", opts.Algorithm)
}

// RetireKey schedules key kid to stop verifying at at (it stops signing at once).
func (s *Store) RetireKey(ctx context.Context, kid string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE signing_keys SET retire_ns = $1 WHERE kid = $2`, at.UnixNano(), kid)
	s.keys.invalidate()
	if err != nil {
		return fmt.Errorf("store: retire key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: key %q", ErrNotFound, kid)
	}
	return nil
}

// fromNanos turns stored nanoseconds into a UTC time; 0 is the zero time.
func fromNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// toNanos turns a time into stored nanoseconds; the zero time is 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
