// Package sqldbtest gives tests of the policy stores a throwaway database
// of each kind: a SQLite file in the test's temporary directory and a
// PostgreSQL schema dropped when the test ends.
//
// It is imported only by tests; it must not import a policy.
package sqldbtest

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresURL is the test server: MCPFORT_TEST_POSTGRES, or the local one.
func PostgresURL() string {
	if v := os.Getenv("MCPFORT_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Postgres creates a throwaway schema, drops it when the test ends, and
// returns a URL whose search_path selects it. The test is skipped when the
// server is unreachable.
func Postgres(t testing.TB) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	schema := "mcpfort_policy_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SQLite returns a "sqlite:PATH" database in the test's temporary
// directory.
func SQLite(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "mcpfort.db")
}

// Exec runs statements on a database named as sqldb.Open names it, the way
// an operator (or an attacker) with direct access would: tests use it to
// tamper with stored rows.
func Exec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Open opens a database the way sqldb.Open names it ("sqlite:PATH" or a
// postgres:// URL) without migrating it: a second, independent handle for
// tests that reach behind a store's back.
func Open(t testing.TB, database string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://") {
		cfg, perr := pgx.ParseConfig(database)
		if perr != nil {
			t.Fatal(perr)
		}
		db = stdlib.OpenDB(*cfg)
	} else {
		db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(database, "sqlite:")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Close() })
	return db
}
