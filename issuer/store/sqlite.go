package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// sqliteMaxConns bounds the SQLite connection pool. WAL lets readers proceed
// while one writer holds the lock; writers queue on busy_timeout.
const sqliteMaxConns = 8

// sqlitePath returns the database file under dataDir ("" = DefaultDataDir).
func sqlitePath(dataDir string) string {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	return filepath.Join(dataDir, DefaultSQLiteFile)
}

// openSQLite opens (creating) the SQLite file at path: WAL journal, a busy
// timeout so that writers wait for each other, foreign keys on, and every
// transaction BEGIN IMMEDIATE so that a transaction that reads then writes
// holds the write lock from its start (no upgrade deadlocks, no lost updates).
func (s *Store) openSQLite(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: create data directory: %w", err)
	}
	// Created 0600 here, since SQLite would use the umask: the file holds
	// sealed keys and the audit log. (SQLite gives -wal and -shm the same mode.)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	s.db, s.d, s.sqliteFile = db, dialectSQLite, path
	s.sqliteTx = &txQueue{}
	return nil
}
