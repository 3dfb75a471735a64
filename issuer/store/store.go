package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults for the zero values of Options.
const (
	DefaultDataDir        = ".legant"
	DefaultSQLiteFile     = "legant.db"
	DefaultFeedTTL        = 5 * time.Minute
	DefaultHoldTTL        = 15 * time.Minute
	DefaultPollInterval   = time.Second
	DefaultAuditQueueSize = 8192
	DefaultAuditMaxBatch  = 512
)

// Options configure Open. The zero value opens (and creates) the SQLite file
// DefaultDataDir/DefaultSQLiteFile without signing keys.
type Options struct {
	// DatabaseURL selects the backend: "" is SQLite in DataDir;
	// "postgres://…" or "postgresql://…" is PostgreSQL (pgx syntax; extra
	// parameters such as search_path become session settings, pool_max_conns
	// sizes the pool); "sqlite:PATH" is SQLite at PATH.
	DatabaseURL string
	// DataDir holds the SQLite file; "" means DefaultDataDir. It is created
	// (0700) when missing.
	DataDir string
	// KeyEncryptionSecret encrypts signing keys at rest (at least 16 bytes;
	// 32 random bytes recommended). Nil: operations on signing keys (KeySet,
	// RotateKey, Feed, anchors, pruning) fail with ErrNoKeySecret.
	KeyEncryptionSecret []byte
	// Issuer is the "iss" of the revocation feed and of audit anchors.
	Issuer string
	// SkipMigrate makes Open refuse a database whose schema is not current
	// instead of migrating it.
	SkipMigrate bool
	// AuditKeepArgs stores tool-call arguments with audit events (they are
	// always hashed into ArgsHash; by default only the hash is kept).
	AuditKeepArgs bool
	// AuditQueueSize bounds the events waiting to be written; 0 means
	// DefaultAuditQueueSize. Append blocks while it is full.
	AuditQueueSize int
	// AuditMaxBatch bounds the events written in one transaction; 0 means
	// DefaultAuditMaxBatch.
	AuditMaxBatch int
	// AuditWriteTimeout bounds the write of one audit batch; 0 means
	// DefaultAuditWriteTimeout. A batch that times out fails (its producers
	// fail closed) though it may still commit: retry it with the same event
	// IDs and it is written once.
	AuditWriteTimeout time.Duration
	// AuditJournalSize is the size of the SQLite audit journal's ring
	// (auditjournal.go): 0 means DefaultAuditJournalSize; negative turns
	// the journal off, and every audit batch is then a SQLite transaction
	// on the request path. PostgreSQL stores keep no journal.
	AuditJournalSize int64
	// FeedTTL is the lifetime of a signed revocation feed; 0 means DefaultFeedTTL.
	FeedTTL time.Duration
	// HoldTTL is how long a ledger hold may stay open before a later
	// reservation frees it (a gateway that died mid-call); 0 means DefaultHoldTTL.
	HoldTTL time.Duration
	// PollInterval (SQLite) is how often the store looks for revocations
	// written by other processes sharing the file; 0 means
	// DefaultPollInterval, negative disables. Revocations made through this
	// Store are seen at once.
	PollInterval time.Duration
	// Logger receives operational messages (never secrets); nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("store: not found")
	ErrExists         = errors.New("store: already exists")
	ErrClosed         = errors.New("store: closed")
	ErrSchema         = errors.New("store: database schema is not current")
	ErrNoKeySecret    = errors.New("store: no key-encryption secret configured")
	ErrWrongKeySecret = errors.New("store: the key-encryption secret does not match the one the signing keys were encrypted with")
	ErrRevoked        = errors.New("store: revoked")
)

// Store is the issuer's storage. It is safe for concurrent use. Close stops
// its goroutines (the revocation watcher and the audit writer) and closes the
// database.
type Store struct {
	db   *sql.DB
	pool *pgxpool.Pool // PostgreSQL only
	d    dialect
	opts Options
	log  *slog.Logger
	now  func() time.Time

	// listenChannel is this schema's NOTIFY channel (PostgreSQL).
	listenChannel string
	// sqliteFile is the SQLite database's path ("" on PostgreSQL).
	sqliteFile string
	// sqliteTx admits one of this process's SQLite transactions at a time,
	// in order (inTx; nil on PostgreSQL).
	sqliteTx      *txQueue
	migrationPIDs []int32 // PostgreSQL backends that applied migrations (closed by dropConnections)

	keys  *keyRing
	revs  *RevocationSet
	audit *AuditLog
	// groupWriter group-commits the writes that start and end sessions and
	// the ledger's (groupwriter.go).
	groupWriter groupWriter
	// accountWrites counts ledger account rows written back (tests: a
	// group of ledger writes writes each account once).
	accountWrites atomic.Int64
	// parentQueries counts the ledger's queries for a parent not read with
	// its account (tests).
	parentQueries atomic.Int64
	// stmts caches SQLite statements by query text (stmtcache.go).
	stmts sync.Map

	// auditSkipped counts appended events skipped as already written.
	auditSkipped atomic.Int64

	// syncMu serializes loading revocations into revs.
	syncMu sync.Mutex

	stop      context.CancelFunc // stops the watcher
	watchDone chan struct{}
	closeOnce sync.Once
}

// Open connects to the database Options name, applies pending migrations
// (unless SkipMigrate), checks the key-encryption secret, loads the
// revocation set and starts keeping it current.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s, err := openDB(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := s.prepareSchema(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.closeDB()
		return nil, err
	}
	return s, nil
}

// openDB connects, without migrating or starting anything.
func openDB(ctx context.Context, opts Options) (*Store, error) {
	s := &Store{opts: opts, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	switch u := opts.DatabaseURL; {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		err = s.openPostgres(ctx, u)
	case u == "":
		err = s.openSQLite(ctx, sqlitePath(opts.DataDir))
	case strings.HasPrefix(u, "sqlite:"):
		err = s.openSQLite(ctx, strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//"))
	default:
		return nil, fmt.Errorf("store: unsupported database URL scheme in %q (want postgres://, postgresql:// or sqlite:)", redactURL(u))
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) prepareSchema(ctx context.Context) error {
	if !s.opts.SkipMigrate {
		applied, err := s.migrateUp(ctx)
		if len(applied) > 0 && s.d.postgres {
			s.dropConnections()
		}
		return err
	}
	states, err := s.migrationStatus(ctx)
	if err != nil {
		return err
	}
	for _, st := range states {
		if !st.Applied {
			return fmt.Errorf("%w: migration %d_%s is pending (run `legant migrate up`)", ErrSchema, st.Version, st.Name)
		}
	}
	return nil
}

// dropConnections closes the pool's connections once migrations ran on
// them: a PostgreSQL backend that ran the schema's DDL stays slow for the
// rest of its life (measured: the audit append took 0.67 ms on it against
// 0.25 ms on a fresh connection, PostgreSQL 15), and the pool would keep it
// for every later statement.
func (s *Store) dropConnections() {
	s.db.SetMaxIdleConns(0) // database/sql closes its idle connections …
	s.db.SetMaxIdleConns(2) // … and keeps its default from now on
	s.pool.Reset()
}

// start checks the key secret, loads revocations and starts the goroutines.
func (s *Store) start(ctx context.Context) error {
	kr, err := newKeyRing(ctx, s, s.opts.KeyEncryptionSecret)
	if err != nil {
		return err
	}
	s.keys = kr
	s.revs = newRevocationSet()
	if err := s.syncRevocations(ctx, true); err != nil {
		return err
	}
	if err := s.startWatcher(ctx); err != nil {
		return err
	}
	if s.audit, err = newAuditLog(ctx, s); err != nil {
		s.stop()
		<-s.watchDone
		return err
	}
	s.groupWriter.s = s
	return nil
}

// Close drains the audit queue (every event already accepted is written),
// stops the revocation watcher and closes the database. It is safe to call
// more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Settlements queued and not yet written (Hold.CloseQueued).
		ctx, cancel := context.WithTimeout(context.Background(), groupWriteTimeout)
		if err := s.groupWriter.barrier(ctx); err != nil {
			s.log.Error("store: closing with ledger writes unwritten", "err", err)
		}
		cancel()
		if s.audit != nil {
			s.audit.close()
		}
		if s.stop != nil {
			s.stop()
			<-s.watchDone
		}
		s.closeDB()
	})
	return nil
}

func (s *Store) closeDB() {
	if s.db != nil {
		s.db.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// Backend returns "postgres" or "sqlite".
func (s *Store) Backend() string { return s.d.name }

// Revocations returns the in-memory revocation set, kept current.
func (s *Store) Revocations() *RevocationSet { return s.revs }

// Audit returns the audit log.
func (s *Store) Audit() *AuditLog { return s.audit }

// inTx runs f in a transaction, committing when it returns nil. On SQLite
// every transaction takes the write lock at BEGIN (IMMEDIATE), and the
// process's transactions first queue for their turn (txQueue), in order:
// under a stream of ledger groups the audit journal's applier got the lock
// through SQLite's busy handler 17 times in 8 s instead of 32 (a reader
// waiting for it: 103 ms), through the queue 31 times (4 ms). Other
// processes on the same file still meet the busy handler. f must not start
// a transaction of its own.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if s.sqliteTx != nil {
		if err := s.sqliteTx.acquire(ctx); err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		defer s.sqliteTx.release()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	return finishTx(tx, f(tx))
}

// inWriteTx is inTx for the hot writes of small statements (the group
// writer's, the audit log's), whose f runs them with the context it is
// handed. On SQLite that context, and the transaction's, no longer carry
// ctx's cancellation once the process's turn and a connection are taken:
// modernc.org/sqlite starts a goroutine per statement to watch a
// cancellable context (and database/sql one per query of a transaction
// begun with one) — a goroutine per audit row the journal's applier wrote.
// Nothing in such a transaction waits for another writer: it holds the
// write lock from BEGIN IMMEDIATE, whose wait for another process is
// bounded by busy_timeout; and a caller waiting for a group's outcome still
// stops waiting when its own context ends (groupWriter.do). On PostgreSQL,
// where a statement can wait for row locks and the network, ctx is kept.
func (s *Store) inWriteTx(ctx context.Context, f func(ctx context.Context, tx *sql.Tx) error) error {
	if s.sqliteTx == nil {
		return s.inTx(ctx, func(tx *sql.Tx) error { return f(ctx, tx) })
	}
	if err := s.sqliteTx.acquire(ctx); err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer s.sqliteTx.release()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer conn.Close()
	ctx = context.WithoutCancel(ctx)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	return finishTx(tx, f(ctx, tx))
}

// finishTx commits tx when err is nil, else rolls it back and returns err.
func finishTx(tx *sql.Tx, err error) error {
	if err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// redactURL drops the password of a database URL for error messages.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	cred, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	user, _, hasPassword := strings.Cut(cred, ":")
	if !hasPassword {
		return u
	}
	return scheme + "://" + user + ":xxxxx@" + host
}
