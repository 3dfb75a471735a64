package store

import "database/sql"

// DB exposes the database handle to the tests, which tamper with tables.
func (s *Store) DB() *sql.DB { return s.db }

// ListenChannel exposes the PostgreSQL NOTIFY channel name.
func (s *Store) ListenChannel() string { return s.listenChannel }
