package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/openlegant/legant/authority/audit"
)

// InTx runs f in one of the store's transactions.
func (s *Store) InTx(ctx context.Context, f func(tx *sql.Tx) error) error { return s.inTx(ctx, f) }

// QueuedTransactions is how many SQLite transactions wait for their turn.
func (s *Store) QueuedTransactions() int { return s.sqliteTx.queued() }

// DB exposes the database handle to the tests, which tamper with tables.
func (s *Store) DB() *sql.DB { return s.db }

// AuditSkipped reports how many appended events were skipped as already
// written (retries of a batch whose commit succeeded).
func (s *Store) AuditSkipped() int64 { return s.auditSkipped.Load() }

// AuditLookups reports how many batches were written with the lookup of
// event ids already written (only batches that may repeat an earlier one).
func (s *Store) AuditLookups() int64 { return s.audit.lookups.Load() }

// AuditBatches reports how many batches the audit writer committed.
func (s *Store) AuditBatches() int64 { return s.audit.batches.Load() }

// ListenChannel exposes the PostgreSQL NOTIFY channel name.
func (s *Store) ListenChannel() string { return s.listenChannel }

// BulkLoadAudit appends n generated events by the fastest path each backend
// has (COPY on PostgreSQL, one prepared INSERT in one transaction on SQLite),
// computing the real chain, in chunks. For benchmarks only.
func (s *Store) BulkLoadAudit(ctx context.Context, n int, gen func(i int) audit.Event) error {
	const chunk = 50_000
	for start := 0; start < n; start += chunk {
		events := make([]audit.Event, min(chunk, n-start))
		for i := range events {
			events[i] = gen(start + i)
			events[i].Time = time.Unix(0, events[i].Time.UnixNano()).UTC()
		}
		if err := s.bulkChunk(ctx, events); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) bulkChunk(ctx context.Context, events []audit.Event) error {
	if !s.d.postgres {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			var head audit.Checkpoint
			if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash); err != nil {
				return err
			}
			head = chainEvents(head, events)
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+auditInsertColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for i := range events {
				row, _ := eventRow(&events[i])
				if _, err := stmt.ExecContext(ctx, row...); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, head.Seq, head.Hash)
			return err
		})
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var head audit.Checkpoint
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&head.Seq, &head.Hash); err != nil {
			return err
		}
		head = chainEvents(head, events)
		cols := strings.Fields(strings.ReplaceAll(auditInsertColumns, ",", " "))
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			return eventRow(&events[i])
		}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, head.Seq, head.Hash)
		return err
	})
}

// MigrateTo applies the migrations up to version only, then runs f on the
// database: to test that a later migration keeps older data working.
func MigrateTo(ctx context.Context, opts Options, version int64, f func(*sql.DB) error) error {
	s, err := openDB(ctx, opts)
	if err != nil {
		return err
	}
	defer s.closeDB()
	states, err := s.migrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.Version > version || st.Applied {
			continue
		}
		if _, err := s.applyMigration(ctx, st.Migration); err != nil {
			return err
		}
	}
	return f(s.db)
}

// MigrationPIDs are the PostgreSQL backends that applied this Store's
// migrations.
func (s *Store) MigrationPIDs() []int32 { return s.migrationPIDs }

// AuditWriting reports whether a batch is being written (the writer or a
// producer committing inline holds the log).
func (s *Store) AuditWriting() bool {
	if s.audit.writeMu.TryLock() {
		s.audit.writeMu.Unlock()
		return false
	}
	return true
}

// WriteGroups is how many transactions the group writer has written.
func (s *Store) WriteGroups() int64 { return s.groupWriter.groups.Load() }

// LedgerAccountWrites is how many ledger account rows were written back.
func (s *Store) LedgerAccountWrites() int64 { return s.accountWrites.Load() }

// AuditPipeline reports, for PostgreSQL's audit pipeline, the batches sent
// while another was in flight, those written again the ordinary way after
// one failed, and the connections lost with batches in flight.
func (s *Store) AuditPipeline() (ahead, redone, broken int64) {
	return s.audit.ahead.Load(), s.audit.redone.Load(), s.audit.broken.Load()
}

// PipelineIdlePing is how long the audit pipeline's connection may sit
// unused before it is pinged ahead of the next batch.
const PipelineIdlePing = pgPipelineIdlePing

// AuditPipelinePID is the PostgreSQL backend of the audit pipeline's
// connection (0: none held).
func (s *Store) AuditPipelinePID() uint32 {
	s.audit.writeMu.Lock()
	defer s.audit.writeMu.Unlock()
	if s.audit.pipe.conn == nil {
		return 0
	}
	return s.audit.pipe.conn.PgConn().PID()
}

// AuditJournaled reports whether this Store owns a SQLite audit journal.
func (s *Store) AuditJournaled() bool { return s.audit.j != nil }

// HoldAuditJournal stops (true) or resumes (false) the journal's applier:
// held, journaled events stay out of the database, and Close leaves them
// there as a crash would.
func (s *Store) HoldAuditJournal(hold bool) {
	s.audit.j.noApply.Store(hold)
	if !hold {
		select {
		case s.audit.j.kick <- struct{}{}:
		default:
		}
	}
}

// SetAuditApplyLinger sets how long the journal's applier gathers events.
func (s *Store) SetAuditApplyLinger(d time.Duration) { s.audit.j.linger.Store(int64(d)) }

// SetJournalDirect turns the journal's O_DIRECT appends on or off for the
// stores opened next, and returns the previous setting.
func SetJournalDirect(on bool) bool { was := journalDirect; journalDirect = on; return was }

// SetJournalAIO turns the journal's AIO appends on or off for the stores
// opened next, and returns the previous setting.
func SetJournalAIO(on bool) bool { was := journalAIO; journalAIO = on; return was }

// AuditJournalAIO reports whether the journal's writer appends through AIO,
// and how many appends went that way.
func (s *Store) AuditJournalAIO() (bool, int64) {
	return s.audit.j.aio != nil, s.audit.j.aioWrites.Load()
}

// AuditJournalDirect reports whether the journal appends through O_DIRECT.
func (s *Store) AuditJournalDirect() bool { return s.audit.j.direct != nil }

// AuditApplies reports how many apply transactions the journal committed.
func (s *Store) AuditApplies() int64 { return s.audit.j.applies.Load() }

// AuditJournalArrays reports where the journal's pending list and the
// applier's copy of an apply's events keep their elements.
func (s *Store) AuditJournalArrays() (pending, applying uintptr) {
	j := s.audit.j
	j.mu.Lock()
	defer j.mu.Unlock()
	return uintptr(unsafe.Pointer(unsafe.SliceData(j.pending))), uintptr(unsafe.Pointer(unsafe.SliceData(j.applying)))
}

// SettleAudit waits until the events appended so far are in the database.
func (s *Store) SettleAudit(ctx context.Context) error { return s.audit.settle(ctx) }

// AuditJournalPath is the journal file of a SQLite store in dataDir.
func AuditJournalPath(dataDir string) string { return journalPath(sqlitePath(dataDir)) }

// ErrJournalFull is the error of an append the full journal refused.
var ErrJournalFull = errJournalFull

// GroupsRetried is how many group transactions failed as a whole and were
// written again op by op.
func (s *Store) GroupsRetried() int64 { return s.groupWriter.retried.Load() }

// SetLazyDelay sets how long a queued settlement waits for a group to join.
func (s *Store) SetLazyDelay(d time.Duration) {
	s.groupWriter.mu.Lock()
	s.groupWriter.lazyDelay = d
	s.groupWriter.mu.Unlock()
}

// SetOwnerWait sets how long a read waits for another process's journal to
// be applied, and returns the previous setting.
func SetOwnerWait(d time.Duration) time.Duration { was := ownerWait; ownerWait = d; return was }

// ParentQueries is how many parent lookups the ledger ran on their own.
func (s *Store) ParentQueries() int64 { return s.parentQueries.Load() }
