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
	"sync/atomic"
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
// its batch is committed. An Append that finds the log idle (nothing queued,
// nothing being written) commits its own events in its own goroutine instead,
// sparing the two hand-offs. The chain head is locked in that transaction, so
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

	// Writer only: SQLite's statements, prepared once; PostgreSQL's last
	// known chain head.
	sqlite    sqliteAuditStmts
	head      audit.Checkpoint
	headKnown bool

	// pipe is PostgreSQL's writer connection, its own (auditpipeline.go).
	// Writer only, under writeMu.
	pipe pgAuditPipe

	// j is the SQLite journal (auditjournal.go): when set, a batch is
	// durable once journaled, and the applier writes it into the chain.
	j *auditJournal
	// ownedElsewhere is the journal's path when another process owns it
	// (awaitOwner).
	ownedElsewhere string

	// uncertain holds the ids of events whose append returned an error: only
	// a batch carrying one of them pays the lookup of ids already written.
	uncertain uncertainIDs
	lookups   atomic.Int64 // batches written with the lookup (tests)
	batches   atomic.Int64 // batches committed: the durable writes (Writes)
	committed atomic.Int64 // events those batches carried
	// PostgreSQL's pipeline (tests): batches sent while another was in
	// flight, batches it wrote again the ordinary way after one failed, and
	// connections it lost with batches in flight.
	ahead, redone, broken atomic.Int64

	// writeMu is held by whoever commits a batch: the writer goroutine, or
	// a producer committing its own events inline (commitInline). closed is
	// set under it by close.
	writeMu sync.Mutex
	closed  bool
	// queued counts events handed to the writer and not yet committed (the
	// channel's and the batch in hand): an inline commit never overtakes them.
	queued atomic.Int64

	closeOnce sync.Once
}

type pendingEvent struct {
	ev   audit.Event
	done chan error // buffered(1): the batch's outcome
}

func newAuditLog(ctx context.Context, s *Store) (*AuditLog, error) {
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
	if !s.d.postgres && s.sqliteFile != "" && s.opts.AuditJournalSize >= 0 {
		jsize := s.opts.AuditJournalSize
		if jsize == 0 {
			jsize = DefaultAuditJournalSize
		}
		j, err := l.openJournal(ctx, s.sqliteFile, jsize)
		if err != nil {
			return nil, err
		}
		if j != nil {
			l.j = j
			go l.applyLoop()
		} else {
			l.ownedElsewhere = journalPath(s.sqliteFile)
		}
	}
	go l.run()
	return l, nil
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
func (l *AuditLog) AppendAll(ctx context.Context, events []audit.Event) (err error) {
	events = slices.Clone(events)
	defer func() {
		if err != nil { // the outcome is unknown: a retry must be looked up
			l.uncertain.mark(events, time.Now())
		}
	}()
	ps := make([]*pendingEvent, len(events))
	for i := range events {
		if err := l.prepare(&events[i]); err != nil {
			return err
		}
		ps[i] = &pendingEvent{ev: events[i], done: make(chan error, 1)}
	}
	if err, ok := l.commitInline(ctx, ps); ok {
		return err
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

// commitInline commits ps in the caller's goroutine when nothing is queued
// and no batch is being written: an uncontended append (one call at a time)
// then pays no hand-off to the writer goroutine and back, two wake-ups that
// cost more than the write on an idle machine. It reports false, leaving ps
// to the writer, when the log is busy; a busy log batches as before. The
// write is bounded by ctx and the log's write timeout: the batch is the
// caller's alone.
func (l *AuditLog) commitInline(ctx context.Context, ps []*pendingEvent) (error, bool) {
	if l.queued.Load() > 0 || len(ps) > l.maxBatch || !l.writeMu.TryLock() {
		return nil, false
	}
	defer l.writeMu.Unlock()
	if l.closed {
		return ErrClosed, true
	}
	select {
	case <-l.closing:
		return ErrClosed, true
	default:
	}
	if l.pipelined() {
		// PostgreSQL: through the writer's connection, where the
		// statements run with generic plans (auditpipeline.go), bounded
		// by ctx; the pipeline counts the batch down as it does the
		// queue's.
		l.queued.Add(int64(len(ps)))
		l.pipeline(ctx, ps, false)
	} else {
		l.commitCtx(ctx, ps, true)
	}
	for _, p := range ps {
		if err := <-p.done; err != nil {
			return err, true
		}
	}
	return nil, true
}

func (l *AuditLog) enqueue(ctx context.Context, p *pendingEvent) error {
	select {
	case <-l.closing:
		return ErrClosed
	default:
	}
	l.queued.Add(1)
	select {
	case l.queue <- p:
		return nil
	case <-l.closing:
		l.queued.Add(-1)
		return ErrClosed
	case <-ctx.Done():
		l.queued.Add(-1)
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
	defer func() {
		l.writeMu.Lock()
		l.pipe.drop()
		l.writeMu.Unlock()
	}()
	for {
		select {
		case p := <-l.queue:
			// No yield before a journal batch: the events that queued
			// during the previous sync are the batch, and under load the
			// yield waited behind every runnable goroutine.
			batch := l.collect(p, l.j == nil)
			l.writeMu.Lock()
			if l.pipelined() {
				l.pipeline(context.Background(), batch, true) // (counts the batches down as answered)
			} else {
				l.commit(batch)
				l.queued.Add(-int64(len(batch)))
			}
			l.writeMu.Unlock()
		case <-l.closing:
			l.writeMu.Lock()
			defer l.writeMu.Unlock()
			for {
				batch := l.collect(nil, false)
				if len(batch) == 0 {
					return
				}
				l.commit(batch)
				l.queued.Add(-int64(len(batch)))
			}
		}
	}
}

// collect takes first (if any) and whatever else is queued, up to maxBatch;
// yield first lets other goroutines run (see run).
func (l *AuditLog) collect(first *pendingEvent, yield bool) []*pendingEvent {
	var batch []*pendingEvent
	if first != nil {
		batch = append(batch, first)
		if yield {
			// Producers just acknowledged are about to queue again: let
			// them run before taking the batch, so batches do not shrink
			// to one.
			runtime.Gosched()
		}
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

// AuditWrites are the audit log's durable writes by this process so far:
// each batch it committed — a journal append on SQLite (one durable write,
// its events then applied into the chain behind it), a transaction on
// PostgreSQL — and the events they carried. Events ÷ Commits is how well
// appends are group-committed: 1 when every event paid a write of its own.
type AuditWrites struct {
	Commits, Events int64
}

// Writes reports the log's durable writes so far (AuditWrites).
func (l *AuditLog) Writes() AuditWrites {
	return AuditWrites{Commits: l.batches.Load(), Events: l.committed.Load()}
}

// counted counts a committed batch of n events.
func (l *AuditLog) counted(n int) {
	l.committed.Add(int64(n))
	l.batches.Add(1)
}

func (l *AuditLog) commit(batch []*pendingEvent) { l.commitCtx(context.Background(), batch, false) }

// commitCtx writes batch within ctx and the log's write timeout and hands
// each producer the outcome. The caller holds writeMu. inline says the
// caller commits its own events, having found the log idle: a journal
// append then blocks its thread for the write (auditJournal.append).
func (l *AuditLog) commitCtx(ctx context.Context, batch []*pendingEvent, inline bool) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	events := batchEvents(batch)
	var err error
	if l.j != nil {
		err = l.j.append(ctx, events, inline)
	} else {
		err = l.write(ctx, events)
	}
	if err == nil {
		l.counted(len(batch))
	}
	if err != nil {
		err = fmt.Errorf("store: audit write: %w", err)
		l.s.log.Error("audit batch not written", "events", len(batch), "err", err)
	}
	for _, p := range batch {
		p.done <- err
	}
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

// eventRow returns an event's column values in auditColumns order.
func eventRow(e *audit.Event) ([]any, error) {
	return appendEventRow(make([]any, 0, auditColumnCount), e)
}

// appendEventRow appends an event's column values, in auditColumns order, to
// row.
func appendEventRow(row []any, e *audit.Event) ([]any, error) {
	agents, err := json.Marshal(nonNil(e.Agents))
	if err != nil {
		return row, err
	}
	var rawArgs any // NULL unless kept
	if e.Args != nil {
		rawArgs = []byte(e.Args)
	}
	var id any // NULL when the producer gave none
	if e.ID != "" {
		id = e.ID
	}
	return append(row, e.Seq, e.Time.UnixNano(), string(e.Kind), e.User, string(agents), e.Client, e.Upstream, e.Method, e.Tool,
		e.Decision, e.Reason, e.Constraint, e.Limit, e.Value, e.TokenID, e.SessionID, e.ArgsHash, rawArgs, e.PrevHash, e.Hash, id), nil
}

// close stops accepting events and waits until every queued one is written.
func (l *AuditLog) close() {
	l.closeOnce.Do(func() { close(l.closing) })
	<-l.done
	if l.j != nil {
		l.j.closeOnce.Do(l.j.close)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if !l.closed {
		l.closed = true
		l.sqlite.close()
	}
}
