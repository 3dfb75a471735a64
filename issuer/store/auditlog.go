package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openlegant/legant/authority/audit"
)

// DefaultAuditWriteTimeout bounds one batch write when Options.AuditWriteTimeout
// is zero; it does not depend on any producer's context, since the batch is
// shared.
const DefaultAuditWriteTimeout = 30 * time.Second

// auditInsertChunk is the most rows one INSERT statement carries
// (auditColumnCount parameters each, far below both backends' limits).
const auditInsertChunk = 256

// AuditLog is the hash-chained audit log. Append is group-committed: one
// writer goroutine takes every queued event, assigns sequence numbers and
// hashes, and writes the batch in one transaction; each Append returns when
// its batch is committed. The chain head is locked in that transaction, so
// several Stores (replicas) may append to one PostgreSQL chain.
//
// An AuditLog is safe for concurrent use. Store.Close drains it.
type AuditLog struct {
	s        *Store
	queue    chan *pendingEvent
	closing  chan struct{} // closed by close: no more Appends
	done     chan struct{} // closed when the writer has exited
	maxBatch int
	keepArgs bool
	timeout  time.Duration // bounds one batch write
	stmt     *sql.Stmt     // SQLite's single-row INSERT, prepared once (writer only)

	closeOnce sync.Once
}

type pendingEvent struct {
	ev   audit.Event
	done chan error // buffered(1): the batch's outcome
}

func newAuditLog(s *Store) *AuditLog {
	size, batch := s.opts.AuditQueueSize, s.opts.AuditMaxBatch
	if size <= 0 {
		size = DefaultAuditQueueSize
	}
	if batch <= 0 {
		batch = DefaultAuditMaxBatch
	}
	timeout := s.opts.AuditWriteTimeout
	if timeout <= 0 {
		timeout = DefaultAuditWriteTimeout
	}
	l := &AuditLog{s: s, queue: make(chan *pendingEvent, size), closing: make(chan struct{}),
		done: make(chan struct{}), maxBatch: batch, keepArgs: s.opts.AuditKeepArgs, timeout: timeout}
	go l.run()
	return l
}

// Append records ev and returns once it is committed, so an acknowledged
// event survives a crash. It fills in ArgsHash from Args when missing and the
// time when zero; Seq, PrevHash and Hash are assigned by the log. When the
// queue is full Append waits for room (back-pressure; events are never
// dropped). It returns an error when the event could not be written (the
// database is unreachable: the caller should fail closed), when the log is
// closed, or when ctx ends first — in that last case the event may still be
// written.
func (l *AuditLog) Append(ctx context.Context, ev audit.Event) error {
	return l.AppendAll(ctx, []audit.Event{ev})
}

// Record appends the gateway's events (it implements gateway.Recorder):
// each is sanitized first (audit.Event.Sanitized), then the batch is appended
// in order and is durable when Record returns.
func (l *AuditLog) Record(ctx context.Context, events []audit.Event) error {
	out := make([]audit.Event, len(events))
	for i, e := range events {
		out[i] = e.Sanitized()
	}
	return l.AppendAll(ctx, out)
}

// AppendAll records events in order, as Append does, and returns once all of
// them are committed (possibly in more than one batch). On error, a prefix of
// the events may have been written.
func (l *AuditLog) AppendAll(ctx context.Context, events []audit.Event) error {
	events = slices.Clone(events)
	ps := make([]*pendingEvent, len(events))
	for i := range events {
		if err := l.prepare(&events[i]); err != nil {
			return err
		}
		ps[i] = &pendingEvent{ev: events[i], done: make(chan error, 1)}
	}
	for _, p := range ps {
		if err := l.enqueue(ctx, p); err != nil {
			return err
		}
	}
	for _, p := range ps {
		if err := l.wait(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (l *AuditLog) enqueue(ctx context.Context, p *pendingEvent) error {
	select {
	case <-l.closing:
		return ErrClosed
	default:
	}
	select {
	case l.queue <- p:
		return nil
	case <-l.closing:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("store: audit append: %w", ctx.Err())
	}
}

func (l *AuditLog) wait(ctx context.Context, p *pendingEvent) error {
	select {
	case err := <-p.done:
		return err
	case <-l.done:
		select {
		case err := <-p.done:
			return err
		default:
			return ErrClosed // queued after the writer's final drain
		}
	case <-ctx.Done():
		return fmt.Errorf("store: audit append (the event may still be written): %w", ctx.Err())
	}
}

// prepare normalizes and validates an event (a copy) before it is queued.
func (l *AuditLog) prepare(ev *audit.Event) error {
	if ev.Time.IsZero() {
		ev.Time = l.s.now()
	}
	if ev.Args != nil && ev.ArgsHash == "" {
		ev.ArgsHash = audit.ArgsHash(ev.Args)
	}
	if err := ev.Validate(); err != nil {
		return err
	}
	ev.Time = time.Unix(0, ev.Time.UnixNano()).UTC() // what the database holds
	if !l.keepArgs {
		ev.Args = nil
	}
	ev.Seq, ev.PrevHash, ev.Hash = 0, "", ""
	return nil
}

// run is the writer goroutine: batch, write, acknowledge, until closed and
// drained.
func (l *AuditLog) run() {
	defer close(l.done)
	for {
		select {
		case p := <-l.queue:
			l.commit(l.collect(p))
		case <-l.closing:
			for {
				batch := l.collect(nil)
				if len(batch) == 0 {
					return
				}
				l.commit(batch)
			}
		}
	}
}

// collect takes first (if any) and whatever else is queued, up to maxBatch.
func (l *AuditLog) collect(first *pendingEvent) []*pendingEvent {
	var batch []*pendingEvent
	if first != nil {
		batch = append(batch, first)
		// Producers just acknowledged are about to queue again: let them
		// run before taking the batch, so batches do not shrink to one.
		runtime.Gosched()
	}
	for len(batch) < l.maxBatch {
		select {
		case p := <-l.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

func (l *AuditLog) commit(batch []*pendingEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	err := l.write(ctx, batch)
	if err != nil {
		err = fmt.Errorf("store: audit write: %w", err)
		l.s.log.Error("audit batch not written", "events", len(batch), "err", err)
	}
	for _, p := range batch {
		p.done <- err
	}
}

// write appends a batch in one transaction, continuing the chain from the
// locked head. Events whose ID is already in the log (a retry of an append
// whose commit succeeded though its answer was lost) are skipped: the head
// lock serializes writers, so the check and the insert see the same log.
func (l *AuditLog) write(ctx context.Context, batch []*pendingEvent) error {
	events := make([]audit.Event, len(batch))
	for i, p := range batch {
		events[i] = p.ev
	}
	return l.s.inTx(ctx, func(tx *sql.Tx) error {
		var head audit.Checkpoint
		if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+l.s.d.forUpdate()).Scan(&head.Seq, &head.Hash); err != nil {
			return err
		}
		events, err := l.s.withoutWritten(ctx, tx, events)
		if err != nil || len(events) == 0 {
			return err
		}
		head = chainEvents(head, events)
		for i := 0; i < len(events); i += auditInsertChunk {
			if err := l.insertEventsTx(ctx, tx, events[i:min(i+auditInsertChunk, len(events))]); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, head.Seq, head.Hash)
		return err
	})
}

// withoutWritten returns events minus those whose ID the log already holds
// (and minus repeats of an ID within events), in order.
func (s *Store) withoutWritten(ctx context.Context, tx *sql.Tx, events []audit.Event) ([]audit.Event, error) {
	var ids []any
	for i := range events {
		if events[i].ID != "" {
			ids = append(ids, events[i].ID)
		}
	}
	if len(ids) == 0 {
		return events, nil
	}
	seen := make(map[string]bool, len(ids))
	for i := 0; i < len(ids); i += auditInsertChunk {
		chunk := ids[i:min(i+auditInsertChunk, len(ids))]
		var b strings.Builder
		b.WriteString(`SELECT event_id FROM audit_events WHERE event_id IN (`)
		for j := range chunk {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "$%d", j+1)
		}
		b.WriteByte(')')
		rows, err := tx.QueryContext(ctx, b.String(), chunk...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			seen[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := events[:0:0]
	for _, e := range events {
		if e.ID != "" {
			if seen[e.ID] {
				s.auditSkipped.Add(1)
				continue
			}
			seen[e.ID] = true
		}
		out = append(out, e)
	}
	return out, nil
}

// chainEvents assigns seq, prev hash and hash to events following head, and
// returns the new head.
func chainEvents(head audit.Checkpoint, events []audit.Event) audit.Checkpoint {
	for i := range events {
		e := &events[i]
		e.Seq, e.PrevHash = head.Seq+1, head.Hash
		e.Hash = e.ComputeHash()
		head = audit.Checkpoint{Seq: e.Seq, Hash: e.Hash}
	}
	return head
}

const auditColumns = `seq, at_ns, kind, user_sub, agents, client_id, upstream, method, tool, decision, reason,
	constraint_name, limit_value, actual_value, token_id, session_id, args_hash, args, prev_hash, hash`

// auditInsertColumns are the columns an append writes: auditColumns and the
// producer's event id.
const auditInsertColumns = auditColumns + `, event_id`

// auditColumnCount is the number of auditInsertColumns.
const auditColumnCount = 21

// insertEventsTx writes events: one multi-row INSERT on PostgreSQL; on
// SQLite one prepared single-row INSERT executed per event, since binding a
// multi-row statement's numbered parameters there grows with the square of
// the batch (the harness measured it at 58% of a SQLite gateway's CPU).
func (l *AuditLog) insertEventsTx(ctx context.Context, tx *sql.Tx, events []audit.Event) error {
	if l.s.Backend() == "sqlite" {
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

// insertEventsPrepared executes the log's single-row INSERT, prepared once
// per connection (database/sql keeps it), once per event.
func (l *AuditLog) insertEventsPrepared(ctx context.Context, tx *sql.Tx, events []audit.Event) error {
	stmt, err := l.insertStmt(ctx)
	if err != nil {
		return err
	}
	txStmt := tx.StmtContext(ctx, stmt)
	defer txStmt.Close()
	for i := range events {
		row, err := eventRow(&events[i])
		if err != nil {
			return err
		}
		if _, err := txStmt.ExecContext(ctx, row...); err != nil {
			return err
		}
	}
	return nil
}

// insertStmt returns the single-row INSERT, preparing it on first use. It is
// called by the writer goroutine only.
func (l *AuditLog) insertStmt(ctx context.Context) (*sql.Stmt, error) {
	if l.stmt != nil {
		return l.stmt, nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO audit_events (" + auditInsertColumns + ") VALUES (")
	for c := range auditColumnCount {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", c+1)
	}
	b.WriteByte(')')
	stmt, err := l.s.db.PrepareContext(ctx, b.String())
	if err != nil {
		return nil, err
	}
	l.stmt = stmt
	return stmt, nil
}

// eventRow returns an event's column values in auditColumns order.
func eventRow(e *audit.Event) ([]any, error) {
	agents, err := json.Marshal(nonNil(e.Agents))
	if err != nil {
		return nil, err
	}
	var rawArgs any // NULL unless kept
	if e.Args != nil {
		rawArgs = []byte(e.Args)
	}
	var id any // NULL when the producer gave none
	if e.ID != "" {
		id = e.ID
	}
	return []any{e.Seq, e.Time.UnixNano(), string(e.Kind), e.User, string(agents), e.Client, e.Upstream, e.Method, e.Tool,
		e.Decision, e.Reason, e.Constraint, e.Limit, e.Value, e.TokenID, e.SessionID, e.ArgsHash, rawArgs, e.PrevHash, e.Hash, id}, nil
}

// close stops accepting events and waits until every queued one is written.
func (l *AuditLog) close() {
	l.closeOnce.Do(func() { close(l.closing) })
	<-l.done
	if l.stmt != nil {
		l.stmt.Close()
	}
}
