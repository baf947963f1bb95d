package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/postgres"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

// baseDSN is the test server: MCPFORT_TEST_POSTGRES, or the local one.
func baseDSN() string {
	if v := os.Getenv("MCPFORT_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// schemaDSN creates a throwaway schema, drops it when the test ends, and
// returns a DSN whose search_path selects it.
func schemaDSN(t testing.TB) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(baseDSN())
	if err != nil {
		t.Fatal(err)
	}
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	if err := admin.Ping(); err != nil {
		t.Skipf("PostgreSQL not reachable at %s: %v", baseDSN(), err)
	}
	schema := fmt.Sprintf("mcpfort_test_%x", rand.Text()[:10])
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(baseDSN())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Store, func() storage.Store) {
		dsn := schemaDSN(t)
		open := func() storage.Store {
			s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return open(), open
	})
}

func TestAuditConformance(t *testing.T) {
	storagetest.RunAudit(t, func(t *testing.T) (storage.AuditStore, func() storage.AuditStore) {
		open := opener(t)
		return open(), func() storage.AuditStore { return open() }
	})
}

func TestPinConformance(t *testing.T) {
	storagetest.RunPins(t, func(t *testing.T) (storage.PinStore, func() storage.PinStore) {
		open := opener(t)
		return open(), func() storage.PinStore { return open() }
	})
}

func TestVaultConformance(t *testing.T) {
	storagetest.RunVault(t, func(t *testing.T) (storage.VaultStore, func() storage.VaultStore) {
		open := opener(t)
		return open(), func() storage.VaultStore { return open() }
	})
}

// opener opens a new schema, then the same one again, each closed when
// the test ends.
func opener(t *testing.T) func() storage.Backend {
	dsn := schemaDSN(t)
	return func() storage.Backend {
		s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// TestConcurrentMigrate opens the same empty schema from several
// goroutines, as replicas starting together do: the advisory lock lets
// exactly one apply the migrations and the others see them applied.
func TestConcurrentMigrate(t *testing.T) {
	dsn := schemaDSN(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, set := range []struct{ table, glob string }{
		{"mcpfort_schema_migrations", "migrations/*.sql"},
		{"mcpfort_audit_migrations", "migrations/audit/*.sql"},
		{"mcpfort_pinning_migrations", "migrations/pinning/*.sql"},
	} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + set.table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(set.glob)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(files) || n == 0 {
			t.Errorf("%s: %d migration rows, want one per migration (%d)", set.table, n, len(files))
		}
	}
}

func TestInvalidDSNDoesNotLeak(t *testing.T) {
	_, err := postgres.Open(context.Background(), postgres.Options{DSN: "postgres://u:s3cret-pw@host:notaport/db"})
	if err == nil {
		t.Fatal("invalid DSN accepted")
	}
	if got := err.Error(); strings.Contains(got, "s3cret-pw") {
		t.Errorf("error leaks the password: %s", got)
	}
}

// TestAuditKeyIndex checks that the answer-key index holds the keyed rows
// only and that the appends' lookup of keys can use it.
func TestAuditKeyIndex(t *testing.T) {
	dsn := schemaDSN(t)
	s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var def string
	if err := db.QueryRow(`SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_records_answer_key' AND schemaname = current_schema()`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "WHERE (answer_key IS NOT NULL)") {
		t.Errorf("index: %s", def)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The table is empty: make the planner show whether it could use it.
	if _, err := conn.ExecContext(context.Background(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := conn.QueryContext(context.Background(), `EXPLAIN SELECT answer_key FROM audit_records WHERE answer_key = ANY($1)`, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if !strings.Contains(plan.String(), "audit_records_answer_key") {
		t.Errorf("the lookup of keys does not use the index:\n%s", plan.String())
	}
}
