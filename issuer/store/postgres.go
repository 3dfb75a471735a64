package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres connects a pgx pool and a database/sql handle over it (the
// shared code paths use database/sql; LISTEN/NOTIFY uses pgx directly).
func (s *Store) openPostgres(ctx context.Context, databaseURL string) error {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("store: parse database URL %s: %w", redactURL(databaseURL), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("store: connect: %w", err)
	}
	var schema *string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return fmt.Errorf("store: connect to %s: %w", redactURL(databaseURL), err)
	}
	if schema == nil {
		pool.Close()
		return fmt.Errorf("store: %s: search_path names no existing schema", redactURL(databaseURL))
	}
	s.pool, s.db, s.d = pool, stdlib.OpenDBFromPool(pool), dialectPostgres
	s.listenChannel = notifyChannel(*schema)
	return nil
}

// notifyChannel names the NOTIFY channel of a schema: stores sharing a
// database but not a schema (tests, tenants) never hear each other.
func notifyChannel(schema string) string {
	sum := sha256.Sum256([]byte(schema))
	return "legant_revocations_" + hex.EncodeToString(sum[:8])
}
