package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openlegant/legant/authority/audit"
	"github.com/openlegant/legant/authority/revfeed"
)

// Revocation is one revoked token, delegation, agent or user.
type Revocation struct {
	// Version is the revocation counter value of the Revoke that made it;
	// it increases with every Revoke and is the version of the feed.
	Version   int64
	Kind      revfeed.Kind
	Value     string
	Reason    string
	At        time.Time
	ExpiresAt time.Time // zero: never leaves the feed
}

// RevokeRequest asks to revoke one thing.
type RevokeRequest struct {
	Kind   revfeed.Kind
	Value  string
	Reason string
	// ExpiresAt, when set, is when the revocation stops mattering (for a jti:
	// the token's exp) and leaves the feed. Zero: it stays.
	ExpiresAt time.Time
}

// maxRevocationValue bounds a revoked value's length.
const maxRevocationValue = 1024

// Revoke records a revocation and returns what it added: for a delegation,
// the delegation and every stored descendant (its whole sub-tree); for other
// kinds, one entry. Revoking something already revoked adds nothing and
// returns nil. On return the revocation is in this Store's RevocationSet, it
// has been announced to other replicas, and a revoke audit event is recorded.
func (s *Store) Revoke(ctx context.Context, req RevokeRequest) ([]Revocation, error) {
	if !req.Kind.Valid() || req.Value == "" || len(req.Value) > maxRevocationValue {
		return nil, fmt.Errorf("store: invalid revocation %s %q", req.Kind, req.Value)
	}
	var added []Revocation
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		added, err = s.revokeTx(ctx, tx, req)
		return err
	})
	if errors.Is(err, errNothingNew) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: revoke %s %s: %w", req.Kind, req.Value, err)
	}
	if err := s.syncRevocations(ctx, false); err != nil {
		s.log.Warn("revocation committed but not yet loaded", "err", err)
	}
	return added, s.audit.Append(ctx, revokeEvent(req, len(added)))
}

// errNothingNew rolls back a Revoke that would add nothing.
var errNothingNew = errors.New("already revoked")

func (s *Store) revokeTx(ctx context.Context, tx *sql.Tx, req RevokeRequest) ([]Revocation, error) {
	var version int64
	// The counter's row lock orders concurrent revocations: versions are
	// committed in increasing order, so a reader that saw version v has seen
	// every version below it.
	if err := tx.QueryRowContext(ctx, `UPDATE revocation_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&version); err != nil {
		return nil, err
	}
	now := s.now()
	todo := []Revocation{{Version: version, Kind: req.Kind, Value: req.Value, Reason: req.Reason, At: now, ExpiresAt: req.ExpiresAt}}
	if req.Kind == revfeed.KindDelegation {
		sub, err := descendants(ctx, tx, req.Value)
		if err != nil {
			return nil, err
		}
		for _, id := range sub {
			why := fmt.Sprintf("ancestor delegation %s revoked: %s", req.Value, req.Reason)
			todo = append(todo, Revocation{Version: version, Kind: req.Kind, Value: id, Reason: why, At: now, ExpiresAt: req.ExpiresAt})
		}
	}
	var added []Revocation
	for _, r := range todo {
		res, err := tx.ExecContext(ctx, `INSERT INTO revocations (kind, value, version, reason, created_ns, expires_ns)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, value) DO NOTHING`,
			string(r.Kind), r.Value, r.Version, r.Reason, r.At.UnixNano(), toNanos(r.ExpiresAt))
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added = append(added, r)
		}
	}
	if len(added) == 0 {
		return nil, errNothingNew
	}
	// Upstream connections (connections.go) go with the authority that
	// used them: all of a revoked user's; those a revoked delegation (or
	// one below it) or a revoked agent used. A revoked token (a session
	// kill) leaves them: the delegation stands. A revoked user's connect
	// flows in progress (connectstate.go) end too.
	switch req.Kind {
	case revfeed.KindUser:
		for _, table := range []string{"upstream_connections", "upstream_connection_uses", "upstream_connect_pending"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE username = $1`, req.Value); err != nil {
				return nil, err
			}
		}
	case revfeed.KindDelegation:
		ids := make([]string, 0, len(todo))
		for _, r := range todo {
			ids = append(ids, r.Value)
		}
		if err := deleteConnectionsUsedTx(ctx, tx, ids, ""); err != nil {
			return nil, err
		}
	case revfeed.KindAgent:
		if err := deleteConnectionsUsedTx(ctx, tx, nil, req.Value); err != nil {
			return nil, err
		}
	}
	return added, s.markRevokedTx(ctx, tx, added)
}

// markRevokedTx flags revoked delegations and announces the new version.
func (s *Store) markRevokedTx(ctx context.Context, tx *sql.Tx, added []Revocation) error {
	for _, r := range added {
		if r.Kind != revfeed.KindDelegation {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE delegations SET revoked_version = $1 WHERE id = $2 AND revoked_version = 0`, r.Version, r.Value); err != nil {
			return err
		}
	}
	if !s.d.postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, s.listenChannel, strconv.FormatInt(added[0].Version, 10))
	return err
}

// descendants returns every stored delegation below id.
func descendants(ctx context.Context, tx *sql.Tx, id string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE sub(id) AS (
			SELECT id FROM delegations WHERE parent_id = $1
			UNION
			SELECT d.id FROM delegations d JOIN sub ON d.parent_id = sub.id
		) SELECT id FROM sub ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		if d != id {
			out = append(out, d)
		}
	}
	return out, rows.Err()
}

func revokeEvent(req RevokeRequest, n int) audit.Event {
	ev := audit.Event{Kind: audit.KindRevoke, Decision: "revoke", Reason: req.Reason}
	switch req.Kind {
	case revfeed.KindToken:
		ev.TokenID = req.Value
	case revfeed.KindUser:
		ev.User = req.Value
	case revfeed.KindAgent:
		ev.Agents = []string{req.Value}
	case revfeed.KindDelegation:
		ev.Reason = fmt.Sprintf("delegation %s and %d descendant(s): %s", req.Value, n-1, req.Reason)
	}
	return ev
}

// syncRevocations loads revocations into the set: all of them (full, after a
// (re)connect) or those newer than the set's version, and delivers the ones
// that are new to subscribers.
func (s *Store) syncRevocations(ctx context.Context, full bool) error {
	s.syncMu.Lock()
	from := s.revs.Version()
	if full {
		from = 0
	}
	counter, revs, err := s.loadRevocations(ctx, from)
	if err != nil {
		s.syncMu.Unlock()
		return fmt.Errorf("store: load revocations: %w", err)
	}
	fresh := s.applyRevocations(revs, full)
	s.revs.version.Store(max(counter, from))
	s.syncMu.Unlock()
	s.revs.deliver(fresh)
	return nil
}

// applyRevocations puts revs into the set (replacing it when full) and
// returns those that were not in it.
func (s *Store) applyRevocations(revs []Revocation, full bool) []Revocation {
	entries := make([]revfeed.Entry, len(revs))
	for i, r := range revs {
		entries[i] = revfeed.Entry{Kind: r.Kind, Value: r.Value, Reason: r.Reason}
	}
	var fresh []Revocation
	if full {
		added := map[revfeed.Entry]bool{}
		for _, e := range s.revs.set.Replace(entries) {
			added[e] = true
		}
		for i, r := range revs {
			if added[entries[i]] {
				fresh = append(fresh, r)
			}
		}
		return fresh
	}
	for i, r := range revs {
		if s.revs.set.Add(entries[i]) {
			fresh = append(fresh, r)
		}
	}
	return fresh
}

// loadRevocations reads the counter, then every revocation with a version
// above from; since the counter is read first, the rows cover it.
func (s *Store) loadRevocations(ctx context.Context, from int64) (counter int64, revs []Revocation, err error) {
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM revocation_version WHERE id = 1`).Scan(&counter); err != nil {
		return 0, nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, value, version, reason, created_ns, expires_ns
		FROM revocations WHERE version > $1 ORDER BY version, kind, value`, from)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r Revocation
		var at, exp int64
		if err := rows.Scan(&r.Kind, &r.Value, &r.Version, &r.Reason, &at, &exp); err != nil {
			return 0, nil, err
		}
		r.At, r.ExpiresAt = fromNanos(at), fromNanos(exp)
		revs = append(revs, r)
	}
	return counter, revs, rows.Err()
}

// PruneRevocations deletes revocations whose ExpiresAt has passed and returns
// how many. They leave the feed at once and this Store's set at its next full
// resync.
func (s *Store) PruneRevocations(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM revocations WHERE expires_ns <> 0 AND expires_ns <= $1`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: prune revocations: %w", err)
	}
	return res.RowsAffected()
}
