package store

import "database/sql"

// DB exposes the database handle to the tests, which tamper with tables.
func (s *Store) DB() *sql.DB { return s.db }
