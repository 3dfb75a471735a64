package store

// The audit writer's commit of one batch. The common case costs one round
// trip: on PostgreSQL a single statement moves the chain head (only if it is
// still where this writer last left it) and inserts the batch; on SQLite one
// transaction runs statements prepared once. The lookup of event ids already
// written runs only for a batch that may repeat an earlier one (an append
// that returned an error, so its outcome is unknown, or a batch the unique
// index on event_id refused).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openlegant/legant/authority/audit"
)

// auditUncertainTTL is how long the ids of a failed append are looked up when
// appended again. Producers retry within seconds (the gateway's queue every
// second at most); an id retried later still cannot be written twice (the
// unique index refuses it and the batch is written again with the lookup).
const auditUncertainTTL = time.Hour

// pgAppendMaxRows is the most events the single-statement PostgreSQL append
// carries; larger batches use a transaction.
const pgAppendMaxRows = 4096

// write appends a batch, continuing the chain from its head. Events whose ID
// is already in the log (a retry of an append whose commit succeeded though
// its answer was lost) are skipped.
func (l *AuditLog) write(ctx context.Context, events []audit.Event) error {
	lookup := l.uncertain.any(events)
	err := l.writeEvents(ctx, events, lookup)
	if err != nil && !lookup && isEventIDConflict(err) {
		// An id written before without an error returned (a producer
		// recording the same event twice): write the batch with the lookup.
		err = l.writeEvents(ctx, events, true)
	}
	return err
}

// writeEvents commits events; lookup skips those already written.
func (l *AuditLog) writeEvents(ctx context.Context, events []audit.Event, lookup bool) error {
	if l.s.d.postgres && !lookup && len(events) <= pgAppendMaxRows {
		done, err := l.appendPostgres(ctx, events)
		if done || err != nil {
			return err
		}
		// The head kept moving (other replicas): take its lock instead.
	}
	return l.writeTx(ctx, events, lookup, 0)
}

// appendPostgres writes events with one statement that moves the chain head
// from the head this writer last saw and inserts the events only if it did
// (several replicas may share the chain: the UPDATE waits for theirs and
// then finds the head moved). It reports false, nil when the head moved on
// every attempt.
func (l *AuditLog) appendPostgres(ctx context.Context, events []audit.Event) (bool, error) {
	const attempts = 3
	args := make([]any, 0, 4+auditColumnCount)
	for range attempts {
		if !l.headKnown {
			if err := l.s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&l.head.Seq, &l.head.Hash); err != nil {
				return false, err
			}
			l.headKnown = true
		}
		from := l.head
		to := chainEvents(from, events)
		var n int
		var err error
		if n, args, err = pgAppendArgs(args, from, to, events); err != nil {
			return false, err
		}
		query := pgAppendSQL
		if n > 0 {
			query = pgAppendValuesSQL[n]
		}
		_, err = l.s.db.ExecContext(ctx, query, args...)
		l.headKnown = false
		switch {
		case err == nil:
			l.head, l.headKnown = to, true
			return true, nil
		case !isHeadMoved(err):
			return false, err // it may or may not have committed
		}
		// Another writer moved the head: read it again.
	}
	return false, nil
}

// pgAppendArgs returns the arguments of the single-statement append moving
// the head from from to to with events (chained already), appended to
// args[:0], and which statement takes them: pgAppendValuesSQL[n], or
// pgAppendSQL when n is 0.
func pgAppendArgs(args []any, from, to audit.Checkpoint, events []audit.Event) (n int, _ []any, err error) {
	args = append(args[:0], to.Seq, to.Hash, from.Seq, from.Hash)
	if len(events) > pgValuesMaxRows {
		cols, err := pgColumns(events)
		return 0, append(args, cols...), err
	}
	for i := range events {
		if args, err = appendEventRow(args, &events[i]); err != nil {
			return 0, args, err
		}
	}
	return len(events), args, nil
}

// pgAppendSQL is the single-statement append of a large batch: it goes in as
// one array per column (one statement text, prepared once, whatever the
// batch size; smaller batches use pgAppendValuesSQL).
// The head moves only from the head the writer saw: otherwise the division by
// zero (evaluated only then, as it depends on a column) fails the statement,
// and nothing of it is written. The rows are read through moved, so the
// UPDATE (the head's lock) comes first and two writers never wait on each
// other's rows.
var pgAppendSQL = pgMoveHeadSQL +
	`INSERT INTO audit_events (` + auditInsertColumns + `) SELECT * FROM unnest(` + pgArrayParams() + `) WHERE EXISTS (SELECT 1 FROM moved)`

// pgMoveHeadSQL moves the chain head from ($3, $4) to ($1, $2), or fails.
const pgMoveHeadSQL = `WITH moved AS (UPDATE audit_head SET seq = CASE WHEN seq = $3 AND hash = $4 THEN $1 ELSE seq / 0 END, hash = $2 WHERE id = 1 RETURNING id) `

// pgValuesMaxRows is the largest batch the single-statement append writes as
// a list of rows of scalar parameters (pgAppendValuesSQL); larger batches go
// as one array per column (pgAppendSQL). PostgreSQL takes the rows form
// faster up to 32 rows: the statement's p50 through pgx, PostgreSQL 15 on
// this machine, one row 261 µs against 608 µs, 4 rows 309 against 573, 16
// rows 557 against 712, 32 rows 687 against 900, 64 rows 1029 against 973.
// A gateway's batches are mostly of a few events (one at c=1).
const pgValuesMaxRows = 32

// pgAppendValuesSQL[n] is pgAppendSQL for n rows given as scalar
// parameters, $5 on (each statement text is prepared once per connection).
var pgAppendValuesSQL = func() (q [pgValuesMaxRows + 1]string) {
	for n := 1; n <= pgValuesMaxRows; n++ {
		var b strings.Builder
		b.WriteString(pgMoveHeadSQL + `INSERT INTO audit_events (` + auditInsertColumns + `) SELECT * FROM (VALUES `)
		for r := range n {
			if r > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for c, typ := range auditColumnTypes {
				if c > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "$%d::%s", 5+r*auditColumnCount+c, typ)
			}
			b.WriteByte(')')
		}
		b.WriteString(`) AS v WHERE EXISTS (SELECT 1 FROM moved)`)
		q[n] = b.String()
	}
	return q
}()

// auditColumnTypes are the PostgreSQL types of auditInsertColumns, in order.
var auditColumnTypes = [auditColumnCount]string{"bigint", "bigint", "text", "text", "text", "text", "text", "text",
	"text", "text", "text", "text", "text", "text", "text", "text", "text", "bytea", "text", "text", "text"}

func pgArrayParams() string {
	var b strings.Builder
	for c, typ := range auditColumnTypes {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d::%s[]", 5+c, typ)
	}
	return b.String()
}

// pgColumns returns events as one array per column of auditInsertColumns
// (NULL elements for args not kept and events without an id).
func pgColumns(events []audit.Event) ([]any, error) {
	n := len(events)
	ints := [2][]int64{make([]int64, n), make([]int64, n)}
	texts := make([][]string, auditColumnCount)
	args := make([][]byte, n)
	ids := make([]*string, n)
	for c, typ := range auditColumnTypes {
		if typ == "text" && c != auditColumnCount-1 {
			texts[c] = make([]string, n)
		}
	}
	for i := range events {
		row, err := eventRow(&events[i])
		if err != nil {
			return nil, err
		}
		ints[0][i], ints[1][i] = row[0].(int64), row[1].(int64)
		for c := 2; c < auditColumnCount; c++ {
			switch {
			case c == 17:
				if row[c] != nil {
					args[i] = row[c].([]byte)
				}
			case c == auditColumnCount-1:
				if row[c] != nil {
					id := row[c].(string)
					ids[i] = &id
				}
			default:
				texts[c][i] = row[c].(string)
			}
		}
	}
	out := make([]any, auditColumnCount)
	for c := range out {
		switch {
		case c < 2:
			out[c] = ints[c]
		case c == 17:
			out[c] = args
		case c == auditColumnCount-1:
			out[c] = ids
		default:
			out[c] = texts[c]
		}
	}
	return out, nil
}

// isHeadMoved reports whether err says another writer moved the chain head
// under pgAppendSQL: its division by zero (SQLSTATE 22012), or, should the
// rows go in first, the other writer's rows holding the sequence numbers.
// Either way nothing was written.
func isHeadMoved(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22012" || pe.Code == "23505" && pe.ConstraintName == "audit_events_pkey")
}

// writeTx appends events in one transaction holding the chain head's lock.
// A journal's applier passes through, the last jseq the events bring, which
// the same transaction records as applied (0: no journal).
func (l *AuditLog) writeTx(ctx context.Context, events []audit.Event, lookup bool, through uint64) error {
	var head audit.Checkpoint
	err := l.s.inWriteTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if head, err = l.lockHead(ctx, tx); err != nil {
			return err
		}
		if lookup && len(events) > 0 {
			l.lookups.Add(1)
			if events, err = l.s.withoutWritten(ctx, tx, events); err != nil {
				return err
			}
		}
		if len(events) > 0 {
			head = chainEvents(head, events)
			for i := 0; i < len(events); i += auditInsertChunk {
				if err := l.insertEventsTx(ctx, tx, events[i:min(i+auditInsertChunk, len(events))]); err != nil {
					return err
				}
			}
			if err := l.setHead(ctx, tx, head); err != nil {
				return err
			}
		}
		if through > 0 {
			_, err := tx.ExecContext(ctx, `UPDATE audit_journal SET applied = $1 WHERE id = 1`, int64(through))
			return err
		}
		return nil
	})
	l.head, l.headKnown = head, err == nil && l.s.d.postgres
	return err
}

func (l *AuditLog) lockHead(ctx context.Context, tx *sql.Tx) (audit.Checkpoint, error) {
	var head audit.Checkpoint
	var row *sql.Row
	if l.s.d.postgres {
		row = tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`)
	} else {
		stmt, err := l.sqlite.get(ctx, l.s.db)
		if err != nil {
			return head, err
		}
		row = tx.StmtContext(ctx, stmt.head).QueryRowContext(ctx)
	}
	err := row.Scan(&head.Seq, &head.Hash)
	return head, err
}

func (l *AuditLog) setHead(ctx context.Context, tx *sql.Tx, head audit.Checkpoint) error {
	const q = `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`
	if l.s.d.postgres {
		_, err := tx.ExecContext(ctx, q, head.Seq, head.Hash)
		return err
	}
	_, err := tx.StmtContext(ctx, l.sqlite.update).ExecContext(ctx, head.Seq, head.Hash)
	return err
}

// insertEventsTx writes events: one multi-row INSERT on PostgreSQL; on
// SQLite one prepared single-row INSERT executed per event, since binding a
// multi-row statement's numbered parameters there grows with the square of
// the batch (the harness measured it at 58% of a SQLite gateway's CPU).
func (l *AuditLog) insertEventsTx(ctx context.Context, tx *sql.Tx, events []audit.Event) error {
	if !l.s.d.postgres {
		return l.insertEventsPrepared(ctx, tx, events)
	}
	const cols = auditColumnCount
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + auditInsertColumns + ") VALUES ")
	args := make([]any, 0, cols*len(events))
	for i := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "$%d", i*cols+c+1)
		}
		b.WriteByte(')')
		row, err := eventRow(&events[i])
		if err != nil {
			return err
		}
		args = append(args, row...)
	}
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// insertEventsPrepared executes SQLite's prepared single-row INSERT once per
// event. (A multi-row one, 32 rows per execution, cost more: SQLite's
// program for it spent more in sqlite3_step than it saved in calls.) Its
// parameters are anonymous (?): SQLite finds a numbered one's name by a scan
// of the statement's parameters, on every bind.
func (l *AuditLog) insertEventsPrepared(ctx context.Context, tx *sql.Tx, events []audit.Event) error {
	stmts, err := l.sqlite.get(ctx, l.s.db)
	if err != nil {
		return err
	}
	args := stmts.args[:0]
	defer func() { clear(args); stmts.args = args[:0] }()
	insert := tx.StmtContext(ctx, stmts.insert)
	defer insert.Close()
	for i := range events {
		if args, err = appendEventRow(args[:0], &events[i]); err != nil {
			return err
		}
		if _, err := insert.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// sqliteAuditStmts are the SQLite writer's statements, prepared on first use
// (database/sql keeps each prepared once per connection), and the argument
// list the inserts fill, kept between transactions. Writer only.
type sqliteAuditStmts struct {
	head, insert, update *sql.Stmt
	args                 []any
}

func (s *sqliteAuditStmts) get(ctx context.Context, db *sql.DB) (*sqliteAuditStmts, error) {
	if s.insert != nil {
		return s, nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + auditInsertColumns + ") VALUES (")
	for c := range auditColumnCount {
		if c > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
	}
	b.WriteByte(')')
	var err error
	prepare := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		return st
	}
	next := sqliteAuditStmts{
		head:   prepare(`SELECT seq, hash FROM audit_head WHERE id = 1`),
		update: prepare(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`),
		insert: prepare(b.String()),
	}
	if err != nil {
		next.close()
		return nil, err
	}
	*s = next
	return s, nil
}

func (s *sqliteAuditStmts) close() {
	for _, st := range []*sql.Stmt{s.head, s.update, s.insert} {
		if st != nil {
			st.Close()
		}
	}
}

// isEventIDConflict reports whether err is the unique index on event_id
// refusing a row (both drivers name the index or column in the message).
func isEventIDConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "audit_events_event_id") || strings.Contains(msg, "audit_events.event_id")
}

// uncertainIDs are the ids of events whose append returned an error (a
// timeout, a failed commit whose answer was lost): they may be in the log
// already. Safe for concurrent use.
type uncertainIDs struct {
	mu      sync.Mutex
	at      map[string]time.Time // id → when its append failed
	pruneAt int                  // prune expired ids when the map grows past this
}

func (u *uncertainIDs) mark(events []audit.Event, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range events {
		if id := events[i].ID; id != "" {
			if u.at == nil {
				u.at = map[string]time.Time{}
			}
			u.at[id] = now
		}
	}
	if len(u.at) > max(u.pruneAt, 1024) {
		for id, t := range u.at {
			if now.Sub(t) > auditUncertainTTL {
				delete(u.at, id)
			}
		}
		u.pruneAt = 2 * len(u.at)
	}
}

// any reports whether one of events carries an uncertain id.
func (u *uncertainIDs) any(events []audit.Event) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.at) == 0 {
		return false
	}
	for i := range events {
		if id := events[i].ID; id != "" {
			if _, ok := u.at[id]; ok {
				return true
			}
		}
	}
	return false
}
