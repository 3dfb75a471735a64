package store

// dialect holds the few places where SQL differs between the backends. Every
// query uses $1-style parameters, which both drivers accept.
type dialect struct {
	name     string // directory of its migrations: "postgres" or "sqlite"
	postgres bool
}

var (
	dialectPostgres = dialect{name: "postgres", postgres: true}
	dialectSQLite   = dialect{name: "sqlite"}
)

// forUpdate is appended to a SELECT inside a transaction that goes on to
// update the rows it read. SQLite needs nothing: every transaction begins
// IMMEDIATE and so already holds the database's write lock.
func (d dialect) forUpdate() string {
	if d.postgres {
		return " FOR UPDATE"
	}
	return ""
}

// decimalIn wraps a parameter carrying a decimal string for a NUMERIC column.
func (d dialect) decimalIn(param string) string {
	if d.postgres {
		return "CAST(CAST(" + param + " AS TEXT) AS NUMERIC)"
	}
	return param
}

// decimalOut renders an amount column as text for scanning into a string.
func (d dialect) decimalOut(col string) string {
	if d.postgres {
		return col + "::text"
	}
	return col
}
