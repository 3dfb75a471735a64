package bench

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openlegant/legant/authority"
)

// pgSchema creates a fresh schema on the PostgreSQL database at dbURL and
// returns a URL selecting it (search_path), so that a run's keys, sessions
// and audit events stay apart from everything else and leave with it; drop
// removes the schema.
func pgSchema(ctx context.Context, dbURL string) (schemaURL string, drop func(), err error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	schema := "legant_bench_" + authority.NewID()[:12]
	exec := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ident := pgx.Identifier{schema}.Sanitize()
	if err := exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop = func() { exec(context.WithoutCancel(ctx), "DROP SCHEMA "+ident+" CASCADE") }
	return u.String(), drop, nil
}
