package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int64
	Name    string // file name without the version prefix and ".sql"
	sql     string
}

// MigrationState is a migration and whether the database has it.
type MigrationState struct {
	Migration
	Applied   bool
	AppliedAt int64 // nanoseconds since the epoch; 0 when not applied
}

// migrations returns the embedded migrations of a dialect, by version.
func migrations(d dialect) ([]Migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: bad migration file name %s", e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, sql: string(body)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(a.Version - b.Version) })
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_ns BIGINT NOT NULL
)`

// migrationStatus lists every known migration with its state.
func (s *Store) migrationStatus(ctx context.Context) ([]MigrationState, error) {
	all, err := migrations(s.d)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	applied := map[int64]int64{}
	rows, err := s.db.QueryContext(ctx, `SELECT version, applied_ns FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, at int64
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		applied[v] = at
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]MigrationState, len(all))
	for i, m := range all {
		at, ok := applied[m.Version]
		out[i] = MigrationState{Migration: m, Applied: ok, AppliedAt: at}
		delete(applied, m.Version)
	}
	for v := range applied {
		return out, fmt.Errorf("%w: the database has migration %d, which this binary does not know (a newer legant migrated it)", ErrSchema, v)
	}
	return out, nil
}

// migrateUp applies every pending migration, each in its own transaction,
// and returns those it applied. Concurrent callers are serialized (an
// advisory lock on PostgreSQL, the write lock on SQLite); a migration another
// process applied meanwhile is skipped.
func (s *Store) migrateUp(ctx context.Context) ([]Migration, error) {
	states, err := s.migrationStatus(ctx)
	if err != nil {
		return nil, err
	}
	var done []Migration
	for _, st := range states {
		if st.Applied {
			continue
		}
		ok, err := s.applyMigration(ctx, st.Migration)
		if err != nil {
			return done, fmt.Errorf("store: migration %d_%s: %w", st.Version, st.Name, err)
		}
		if ok {
			done = append(done, st.Migration)
		}
	}
	return done, nil
}

func (s *Store) applyMigration(ctx context.Context, m Migration) (applied bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7201931)`); err != nil {
				return err
			}
			var pid int32
			if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return err
			}
			s.migrationPIDs = append(s.migrationPIDs, pid)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)`,
			m.Version, m.Name, s.now().UnixNano())
		applied = err == nil
		return err
	})
	return applied, err
}

// Migrate applies the pending migrations of the database opts names and
// returns those it applied. It starts nothing and needs no key secret.
func Migrate(ctx context.Context, opts Options) ([]Migration, error) {
	s, err := openDB(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.closeDB()
	return s.migrateUp(ctx)
}

// MigrationStatus lists the migrations this binary knows and whether the
// database opts names has each. It fails with ErrSchema when the database has
// a migration this binary does not know.
func MigrationStatus(ctx context.Context, opts Options) ([]MigrationState, error) {
	s, err := openDB(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.closeDB()
	return s.migrationStatus(ctx)
}
