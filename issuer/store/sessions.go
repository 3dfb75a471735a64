package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openlegant/legant/authority"
)

// SessionState is where a gateway session is in its life.
type SessionState string

// Session states.
const (
	SessionLive   SessionState = "live"
	SessionKilled SessionState = "killed"
	SessionClosed SessionState = "closed"
)

// Session is a gateway session: one client session mapped to one upstream
// session, bound to the principal (user + agent chain) that opened it.
type Session struct {
	ID                string
	User              string
	Agents            []string // act chain, oldest first
	Client            string
	Upstream          string // upstream slug
	ProtocolVersion   string
	UpstreamSessionID string
	TokenID           string // jti of the token that opened it
	Started           time.Time
	LastActivity      time.Time
	CallsAllowed      int64
	CallsDenied       int64
	AmountSpent       authority.Decimal
	State             SessionState
	EndReason         string    // why it was killed or closed
	Ended             time.Time // zero while live
}

// sessionColumns lists the columns scanSession reads, in order.
const sessionColumns = `id, user_sub, agents, client_id, upstream, protocol_version, upstream_session_id, token_id,
	started_ns, last_activity_ns, calls_allowed, calls_denied, %s, state, end_reason, ended_ns`

// CreateSession stores a new live session; ErrExists if the id is taken. Zero
// Started and LastActivity mean now. It returns once the session is
// committed; sessions created at the same time share one transaction
// (groupWriter), so opening many at once costs one commit per group rather
// than per session.
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	if se.ID == "" {
		return errors.New("store: session without id")
	}
	if se.Started.IsZero() {
		se.Started = s.now()
	}
	if se.LastActivity.IsZero() {
		se.LastActivity = se.Started
	}
	agents, err := json.Marshal(nonNil(se.Agents))
	if err != nil {
		return err
	}
	return s.groupWriter.do(ctx, func(ctx context.Context, tx *groupTx) error {
		return s.insertSession(ctx, tx.Tx, se, string(agents))
	})
}

// insertSession inserts one session in tx: ErrExists when the id is taken.
func (s *Store) insertSession(ctx context.Context, tx *sql.Tx, se Session, agents string) error {
	res, err := s.execTx(ctx, tx, `INSERT INTO gateway_sessions (id, user_sub, agents, client_id, upstream, protocol_version,
			upstream_session_id, token_id, started_ns, last_activity_ns, amount_spent, state)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, `+s.d.decimalIn("$11")+`, $12) ON CONFLICT (id) DO NOTHING`,
		se.ID, se.User, agents, se.Client, se.Upstream, se.ProtocolVersion, se.UpstreamSessionID, se.TokenID,
		se.Started.UnixNano(), se.LastActivity.UnixNano(), "0", string(SessionLive))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: session %q", ErrExists, se.ID)
	}
	return nil
}

// SessionActivity is what TouchSession adds to a session.
type SessionActivity struct {
	At      time.Time         // zero: now
	Allowed int64             // calls allowed since the last touch
	Denied  int64             // calls denied since the last touch
	Spent   authority.Decimal // amount settled since the last touch
	// UpstreamSessionID, when set, records the upstream's session id (known
	// after the upstream answered initialize).
	UpstreamSessionID string
}

// TouchSession records activity on session id: last activity time and the
// counters, atomically. ErrNotFound if there is no such session.
func (s *Store) TouchSession(ctx context.Context, id string, act SessionActivity) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.touchSessionTx(ctx, tx, id, act) })
}

// TouchSessions records the activity of several sessions in one transaction
// (one commit, one fsync, for a gateway's periodic flush). It returns the ids
// not found, whose activity was not recorded; an error means none was.
func (s *Store) TouchSessions(ctx context.Context, acts map[string]SessionActivity) (notFound []string, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		notFound = notFound[:0]
		for id, act := range acts {
			err := s.touchSessionTx(ctx, tx, id, act)
			if errors.Is(err, ErrNotFound) {
				notFound = append(notFound, id)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return notFound, nil
}

func (s *Store) touchSessionTx(ctx context.Context, tx *sql.Tx, id string, act SessionActivity) error {
	if act.At.IsZero() {
		act.At = s.now()
	}
	{
		var spentText string
		err := s.queryRowTx(ctx, tx, `SELECT `+s.d.decimalOut("amount_spent")+` FROM gateway_sessions WHERE id = $1`+s.d.forUpdate(), id).Scan(&spentText)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: session %q", ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("store: touch session: %w", err)
		}
		spent, err := authority.ParseDecimal(spentText)
		if err != nil {
			return fmt.Errorf("store: session %s amount %q: %w", id, spentText, err)
		}
		_, err = s.execTx(ctx, tx, `UPDATE gateway_sessions SET
				last_activity_ns = CASE WHEN last_activity_ns > $1 THEN last_activity_ns ELSE $1 END,
				calls_allowed = calls_allowed + $2, calls_denied = calls_denied + $3, amount_spent = `+s.d.decimalIn("$4")+`,
				upstream_session_id = CASE WHEN $5 = '' THEN upstream_session_id ELSE $5 END
			WHERE id = $6`,
			act.At.UnixNano(), act.Allowed, act.Denied, spent.Add(act.Spent).String(), act.UpstreamSessionID, id)
		if err != nil {
			return fmt.Errorf("store: touch session: %w", err)
		}
		return nil
	}
}

// GetSession returns session id, or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (*Session, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+fmt.Sprintf(sessionColumns, s.d.decimalOut("amount_spent"))+` FROM gateway_sessions WHERE id = $1`, id)
	se, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: session %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get session: %w", err)
	}
	return se, nil
}

// SessionFilter selects sessions; zero fields do not filter.
type SessionFilter struct {
	User     string
	Agent    string // sessions whose agent chain contains it
	Upstream string
	TokenID  string
	State    SessionState
	Limit    int // 0 = no limit
}

// ListSessions returns matching sessions, most recently active first.
func (s *Store) ListSessions(ctx context.Context, f SessionFilter) ([]Session, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"user_sub", f.User}, {"upstream", f.Upstream}, {"token_id", f.TokenID}, {"state", string(f.State)},
	} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	q := `SELECT ` + fmt.Sprintf(sessionColumns, s.d.decimalOut("amount_spent")) + ` FROM gateway_sessions`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY last_activity_ns DESC, id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() && (f.Limit <= 0 || len(out) < f.Limit) {
		se, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		if f.Agent == "" || slices.Contains(se.Agents, f.Agent) {
			out = append(out, *se)
		}
	}
	return out, rows.Err()
}

// MarkKilled marks a live session killed, with a reason. It reports whether
// it changed the session (false: already killed or closed); ErrNotFound if
// there is no such session.
func (s *Store) MarkKilled(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	return s.endSession(ctx, id, SessionKilled, reason, at)
}

// CloseSession marks a live session closed (the client or upstream ended it).
func (s *Store) CloseSession(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	return s.endSession(ctx, id, SessionClosed, reason, at)
}

func (s *Store) endSession(ctx context.Context, id string, state SessionState, reason string, at time.Time) (bool, error) {
	if at.IsZero() {
		at = s.now()
	}
	var changed atomic.Bool // set by the group's writer; read here even when ctx ended first
	err := s.groupWriter.do(ctx, func(ctx context.Context, gtx *groupTx) error {
		tx := gtx.Tx
		changed.Store(false) // applied again on its own when its group's transaction failed
		res, err := s.execTx(ctx, tx, `UPDATE gateway_sessions SET state = $1, end_reason = $2, ended_ns = $3
			WHERE id = $4 AND state = 'live'`, string(state), reason, at.UnixNano(), id)
		if err != nil {
			return fmt.Errorf("store: end session: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			changed.Store(true)
			return nil
		}
		var one int
		switch err := s.queryRowTx(ctx, tx, `SELECT 1 FROM gateway_sessions WHERE id = $1`, id).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: session %q", ErrNotFound, id)
		case err != nil:
			return fmt.Errorf("store: end session: %w", err)
		}
		return nil // already ended
	})
	return changed.Load() && err == nil, err
}

type rowScanner interface{ Scan(dest ...any) error }

func scanSession(r rowScanner) (*Session, error) {
	var se Session
	var agents, spent string
	var started, last, ended int64
	err := r.Scan(&se.ID, &se.User, &agents, &se.Client, &se.Upstream, &se.ProtocolVersion, &se.UpstreamSessionID, &se.TokenID,
		&started, &last, &se.CallsAllowed, &se.CallsDenied, &spent, &se.State, &se.EndReason, &ended)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(agents), &se.Agents); err != nil {
		return nil, fmt.Errorf("session %s agents: %w", se.ID, err)
	}
	if se.AmountSpent, err = authority.ParseDecimal(spent); err != nil {
		return nil, fmt.Errorf("session %s amount %q: %w", se.ID, spent, err)
	}
	se.Started, se.LastActivity, se.Ended = fromNanos(started), fromNanos(last), fromNanos(ended)
	return &se, nil
}
