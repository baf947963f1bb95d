package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/backend"
)

// PostgresURL is the test server: MCPFORT_TEST_POSTGRES, or the local one.
func PostgresURL() string {
	if v := os.Getenv("MCPFORT_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Postgres creates a throwaway schema, drops it when the test ends, and
// returns a database URL whose search_path selects it. The test is skipped
// when the server is unreachable.
func Postgres(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	schema := "mcpfort_test_" + strings.ToLower(rand.Text()[:12])
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

// Open opens database as the binary does (backend.Open) and closes it when
// the test ends.
func Open(t testing.TB, database string) storage.Backend {
	t.Helper()
	b, err := backend.Open(context.Background(), database, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Raw opens database ("sqlite:PATH" or a postgres:// URL) without
// migrating it: a second, independent handle for tests that reach behind
// a store's back, as an operator (or an attacker) with direct access
// would. It uses the drivers the backends register ("pgx", "sqlite").
func Raw(t testing.TB, database string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", database
	if !strings.HasPrefix(database, "postgres://") && !strings.HasPrefix(database, "postgresql://") {
		driver, dsn = "sqlite", "file:"+strings.TrimPrefix(database, "sqlite:")+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs statements on db, failing the test on the first error.
func Exec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
