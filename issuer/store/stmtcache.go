package store

import (
	"context"
	"database/sql"
)

// On SQLite, parsing a statement costs more than running it
// (modernc.org/sqlite's sqlite3_prepare_v2: a quarter of a budgeted call's
// ledger CPU), so the hot writes inside transactions — the ledger's and the
// sessions' — run statements prepared once per connection: the cache holds
// one *sql.Stmt per query text, which database/sql prepares on each pooled
// connection the first time a transaction there uses it. On PostgreSQL pgx
// caches prepared statements by text itself, and the plain calls are used.

// preparedStmt returns query prepared on the store's pool (SQLite only).
func (s *Store) preparedStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// execTx runs query in tx (prepared once on SQLite).
func (s *Store) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if !s.d.postgres {
		if st, err := s.preparedStmt(ctx, query); err == nil {
			return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		}
	}
	return tx.ExecContext(ctx, query, args...)
}

// queryRowTx runs query in tx for one row (prepared once on SQLite).
func (s *Store) queryRowTx(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if !s.d.postgres {
		if st, err := s.preparedStmt(ctx, query); err == nil {
			return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
		}
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// queryTx runs query in tx (prepared once on SQLite).
func (s *Store) queryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if !s.d.postgres {
		if st, err := s.preparedStmt(ctx, query); err == nil {
			return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
	}
	return tx.QueryContext(ctx, query, args...)
}
