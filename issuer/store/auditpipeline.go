package store

// PostgreSQL's audit batches, pipelined on one connection. A batch's
// single-statement append (appendPostgres) is one round trip and a commit;
// written one after another, PostgreSQL's backend waited for the writer
// between them: for the answer to travel back, the producers to be woken,
// the next batch to be gathered, chained and encoded (the backend was busy
// 54% of the time under 64 producers). The writer now sends the next batch
// while the previous one is in flight, on the same connection, each in its
// own implicit transaction (its own Sync): PostgreSQL runs them in the order
// sent, so the next batch's statement, chained from the head the previous
// one leaves, finds it there. Should the previous one fail, the next one
// finds the head elsewhere and fails as a whole too (pgMoveHeadSQL); both
// are then written again the ordinary way. A batch is acknowledged only
// when its Sync's answer says its transaction committed, and in order.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openlegant/legant/authority/audit"
)

// pgPipelineDepth is the most batches in flight on the writer's connection.
const pgPipelineDepth = 2

// pgPipelineAheadMin is the fewest queued events sent ahead while a batch is
// in flight; under more load, as many as that batch holds. Each batch is a
// commit and a WAL flush of its own: fewer events wait for the answer and go
// with the next batch after it.
const pgPipelineAheadMin = 8

// pgPipelineIdlePing is how long the writer's connection may sit unused
// before it is pinged ahead of the next batch, as the pool does with its
// connections: one that died meanwhile (the server restarted, an idle
// timeout) is then replaced, and fails no batch.
const pgPipelineIdlePing = time.Second

// pgAuditPipe is the writer's connection, held between batches, and what it
// keeps. The connection is the writer's own, outside the pool (as the
// revocation listener's is): held from the pool, it would leave the rest of
// the store a connection short, and none with pool_max_conns=1, while the
// writer waits for the pool to write the batches it cannot pipeline. Writer
// only (under writeMu).
type pgAuditPipe struct {
	conn     *pgx.Conn
	lastUsed time.Time
	values   *pgconn.StatementDescription // pgAppendSQL
	rows     [pgValuesMaxRows + 1]*pgconn.StatementDescription
	args     []any
}

// pgFlight is a batch sent and not yet answered.
type pgFlight struct {
	batch []*pendingEvent
	to    audit.Checkpoint
}

// pipelined reports whether batches go through the pipeline: PostgreSQL.
func (l *AuditLog) pipelined() bool { return l.s.d.postgres && l.s.pool != nil }

// connect opens the writer's connection and prepares the append statements
// on it, once; and reads the chain head if it is not known.
func (pp *pgAuditPipe) connect(ctx context.Context, l *AuditLog) error {
	if pp.conn != nil && time.Since(pp.lastUsed) > pgPipelineIdlePing {
		if err := pp.conn.Ping(ctx); err != nil {
			l.s.log.Info("audit pipeline: connection lost while idle; connecting again", "err", err)
			pp.drop()
		}
	}
	if pp.conn == nil {
		c, err := pgx.ConnectConfig(ctx, l.s.pool.Config().ConnConfig.Copy())
		if err != nil {
			return err
		}
		// Generic plans: left to choose, PostgreSQL kept planning the
		// append for its parameters on every execution (bind p50 80 µs
		// against 16 µs; the plan is the same whatever they are).
		_, err = c.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
		pc := c.PgConn()
		for n := 1; err == nil && n <= pgValuesMaxRows; n++ {
			pp.rows[n], err = pc.Prepare(ctx, fmt.Sprintf("legant_audit_append_%d", n), pgAppendValuesSQL[n], nil)
		}
		if err == nil {
			pp.values, err = pc.Prepare(ctx, "legant_audit_append", pgAppendSQL, nil)
		}
		pp.conn = c
		if err != nil {
			pp.drop()
			return err
		}
	}
	if !l.headKnown {
		if err := pp.conn.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&l.head.Seq, &l.head.Hash); err != nil {
			pp.drop()
			return err
		}
		l.headKnown = true
	}
	return nil
}

// drop closes the writer's connection (after an error that may have left it
// in any state, or as the store closes); the next batch connects again.
func (pp *pgAuditPipe) drop() {
	if pp.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		pp.conn.Close(ctx)
		pp.conn = nil
	}
}

// send chains events from from and sends their append with its Sync. It
// reports whether anything went to the server: not when the events could not
// be encoded.
func (pp *pgAuditPipe) send(p *pgconn.Pipeline, from audit.Checkpoint, events []audit.Event) (to audit.Checkpoint, sent bool, err error) {
	to = chainEvents(from, events)
	n, args, err := pgAppendArgs(pp.args, from, to, events)
	pp.args = args
	defer clear(pp.args)
	if err != nil {
		return to, false, err
	}
	sd := pp.values
	if n > 0 {
		sd = pp.rows[n]
	}
	tm := pp.conn.TypeMap()
	values := make([][]byte, len(args))
	formats := make([]int16, len(args))
	var buf []byte
	for i, a := range args {
		oid := sd.ParamOIDs[i]
		formats[i] = tm.FormatCodeForOID(oid)
		start := len(buf)
		nb, err := tm.Encode(oid, formats[i], a, buf)
		if err != nil {
			return to, false, fmt.Errorf("store: audit append parameter %d: %w", i+1, err)
		}
		if nb != nil { // nil: NULL
			buf = nb
			values[i] = buf[start:len(buf):len(buf)]
		}
	}
	p.SendQueryStatement(sd, values, formats, nil)
	p.SendPipelineSync()
	return to, true, p.Flush()
}

// receive reads one batch's answers: its statement's, then its Sync's (the
// commit).
func receive(p *pgconn.Pipeline) error {
	res, err := p.GetResults()
	if err == nil {
		if rr, ok := res.(*pgconn.ResultReader); ok {
			_, err = rr.Close()
		} else {
			err = fmt.Errorf("store: audit pipeline: %T where a statement's result was due", res)
		}
	}
	res, serr := p.GetResults()
	if serr == nil {
		if _, ok := res.(*pgconn.PipelineSync); !ok {
			serr = fmt.Errorf("store: audit pipeline: %T where a Sync's answer was due", res)
		}
	}
	return errors.Join(err, serr)
}

// statementFailed reports whether err says the database refused a batch's
// statement or commit (nothing of it written) while the connection lives on.
// A FATAL or PANIC error ends the connection, and may come after a commit
// (a backend terminated while it waited for its commit to be flushed or
// replicated): the batch's outcome is then unknown.
func statementFailed(pp *pgAuditPipe, err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pp.conn.PgConn().IsClosed() {
		return false
	}
	severity := pe.SeverityUnlocalized
	if severity == "" {
		severity = pe.Severity
	}
	return severity == "ERROR"
}

// worthSendingAhead reports whether enough events are queued to go as a batch
// while inFlight is: pgPipelineAheadMin, or as many as inFlight holds when
// that is more, at most a full batch.
func (l *AuditLog) worthSendingAhead(inFlight []*pendingEvent) bool {
	return len(l.queue) >= min(max(pgPipelineAheadMin, len(inFlight)), l.maxBatch)
}

// batchEvents returns a batch's events.
func batchEvents(batch []*pendingEvent) []audit.Event {
	events := make([]audit.Event, len(batch))
	for i, p := range batch {
		events[i] = p.ev
	}
	return events
}

// pipeline writes first and, with ahead, whatever queues while batches are
// in flight, pgPipelineDepth at a time, until none is in flight; then batches
// it could not send are written the ordinary way (commitCtx). A batch that
// may repeat an earlier one (its ids need the lookup) goes the ordinary way
// too. ctx and the log's write timeout bound every wait (an inline commit
// passes its caller's, and sends nothing ahead: no other producer's batch
// then depends on that caller's deadline). The caller holds writeMu; the
// queued count drops as batches are answered.
func (l *AuditLog) pipeline(ctx context.Context, first []*pendingEvent, ahead bool) {
	done := func(batch []*pendingEvent, err error) {
		if err != nil {
			err = fmt.Errorf("store: audit write: %w", err)
			l.s.log.Error("audit batch not written", "events", len(batch), "err", err)
		} else {
			l.counted(len(batch))
		}
		for _, p := range batch {
			p.done <- err
		}
		l.queued.Add(-int64(len(batch)))
	}
	ordinary := func(batch []*pendingEvent) {
		l.commitCtx(ctx, batch, false)
		l.queued.Add(-int64(len(batch)))
	}
	pipeable := func(events []audit.Event) bool {
		return len(events) <= pgAppendMaxRows && !l.uncertain.any(events)
	}
	events := batchEvents(first)
	if !pipeable(events) {
		ordinary(first)
		return
	}
	// The context bounds each wait for an answer by the write timeout too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(l.timeout, cancel)
	defer watchdog.Stop()
	pp := &l.pipe
	if err := pp.connect(ctx, l); err != nil {
		l.s.log.Warn("audit pipeline: no connection; writing the ordinary way", "err", err)
		ordinary(first)
		return
	}
	p := pp.conn.PgConn().StartPipeline(ctx)
	var (
		flight []pgFlight
		later  [][]*pendingEvent // the ordinary way, in order, after the pipeline
		tail   = l.head          // the head once every batch in flight commits
		broken error             // the connection failed: outcomes unknown
	)
	enqueue := func(batch []*pendingEvent, events []audit.Event) {
		to, sent, err := pp.send(p, tail, events)
		switch {
		case !sent: // not encoded: the ordinary way reports why
			later = append(later, batch)
		case err != nil: // the connection failed: this batch's outcome is unknown too
			flight, broken = append(flight, pgFlight{batch, to}), err
		default:
			if len(flight) > 0 {
				l.ahead.Add(1)
			}
			flight, tail = append(flight, pgFlight{batch, to}), to
		}
	}
	enqueue(first, events)
	for len(flight) > 0 && broken == nil {
		// Send ahead while the oldest batch is in flight; a batch that
		// cannot go this way ends the sending (batches stay in order).
		if ahead && len(flight) < pgPipelineDepth && len(later) == 0 && l.worthSendingAhead(flight[0].batch) {
			if batch := l.collect(nil, false); len(batch) > 0 {
				if evs := batchEvents(batch); pipeable(evs) {
					enqueue(batch, evs)
				} else {
					later = append(later, batch)
				}
				if broken != nil {
					break
				}
			}
		}
		watchdog.Reset(l.timeout)
		err := receive(p)
		switch {
		case err == nil:
			l.head, l.headKnown = flight[0].to, true
			done(flight[0].batch, nil)
			flight = flight[1:]
			continue
		case !statementFailed(pp, err):
			broken = err
			continue
		}
		// The statement or its commit failed: nothing of it is written,
		// nor of the batches sent after it (each finds the head elsewhere
		// and fails whole). Read their answers; all go the ordinary way.
		l.headKnown = false
		redo := [][]*pendingEvent{flight[0].batch}
		flight = flight[1:]
		for len(flight) > 0 && broken == nil {
			switch err := receive(p); {
			case err == nil: // (cannot be: chained from a failed batch)
				done(flight[0].batch, nil)
			case statementFailed(pp, err):
				redo = append(redo, flight[0].batch)
			default:
				broken = err
				continue
			}
			flight = flight[1:]
		}
		l.redone.Add(int64(len(redo)))
		later = append(redo, later...)
	}
	pp.lastUsed = time.Now()
	if broken != nil {
		// The connection failed: whether the batches in flight committed
		// is unknown. Their producers get the error (the ids are looked
		// up when appended again); the batches not sent go the ordinary
		// way.
		l.headKnown = false
		l.broken.Add(1)
		for _, f := range flight {
			done(f.batch, broken)
		}
		pp.drop()
	} else if err := p.Close(); err != nil {
		l.headKnown = false
		pp.drop()
	}
	for _, batch := range later {
		ordinary(batch)
	}
}
