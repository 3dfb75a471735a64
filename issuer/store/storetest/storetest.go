package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openlegant/legant/issuer/store"
)

// EnvDatabaseURL names the PostgreSQL server tests use.
const EnvDatabaseURL = "LEGANT_TEST_DATABASE_URL"

// Secret is the key-encryption secret of test stores.
var Secret = []byte("storetest key-encryption secret, 32+ bytes")

// Issuer is the issuer of test stores.
const Issuer = "https://issuer.test"

// Backend is one database kind the tests run against.
type Backend struct {
	Name    string // "sqlite" or "postgres"
	baseURL string // PostgreSQL server URL; "" for SQLite
}

// Postgres reports whether b is PostgreSQL.
func (b Backend) Postgres() bool { return b.baseURL != "" }

var (
	pgOnce sync.Once
	pgErr  error
)

// Backends returns SQLite, and PostgreSQL when EnvDatabaseURL is set and the
// server answers. Without CI, an unavailable PostgreSQL is logged and left
// out; with CI=true it fails t.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{{Name: "sqlite"}}
	u := os.Getenv(EnvDatabaseURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is not set: the PostgreSQL store tests must run", EnvDatabaseURL)
		}
		t.Logf("PostgreSQL backend skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/legant_test?sslmode=disable)", EnvDatabaseURL)
		return out
	}
	pgOnce.Do(func() { pgErr = ping(u) })
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and PostgreSQL at %s is unreachable: %v", EnvDatabaseURL, pgErr)
		}
		t.Logf("PostgreSQL backend skipped: %s unreachable: %v", EnvDatabaseURL, pgErr)
		return out
	}
	return append(out, Backend{Name: "postgres", baseURL: u})
}

func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// Run runs f as a subtest for every backend.
func Run(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

// Options returns options for a fresh, empty database of backend b, with the
// test secret and issuer. Opening a second Store with the same options shares
// the database.
func (b Backend) Options(t testing.TB) store.Options {
	t.Helper()
	opts := store.Options{KeyEncryptionSecret: Secret, Issuer: Issuer}
	if !b.Postgres() {
		opts.DataDir = t.TempDir()
		return opts
	}
	opts.DatabaseURL = b.freshSchema(t)
	return opts
}

// freshSchema creates a schema, drops it when t ends, and returns the server
// URL with search_path set to it.
func (b Backend) freshSchema(t testing.TB) string {
	t.Helper()
	buf := make([]byte, 6)
	rand.Read(buf)
	schema := "legant_test_" + hex.EncodeToString(buf)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, b.baseURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, b.baseURL)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(b.baseURL)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a store with opts and closes it when t ends (before the
// schema is dropped).
func Open(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
