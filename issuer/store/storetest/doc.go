// Package storetest opens stores on fresh, isolated databases for tests: an
// SQLite file in a temporary directory, and, when LEGANT_TEST_DATABASE_URL
// names a PostgreSQL server, a freshly created schema (selected with
// search_path, so NOTIFY channels are per schema too) that is dropped when the
// test ends. The store's shared suite runs every test against each backend
// Backends returns; other packages use it to get a real store.
//
// Under CI=true an unset or unreachable LEGANT_TEST_DATABASE_URL fails the
// test instead of skipping PostgreSQL.
//
//	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
//		st := storetest.Open(t, b.Options(t))
//		…
//	})
package storetest
