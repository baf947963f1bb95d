package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/sqlite"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Store, func() storage.Store) {
		path := filepath.Join(t.TempDir(), "mcpfort.db")
		open := func() storage.Store {
			s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
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

// opener opens a new database, then the same one again, each closed when
// the test ends.
func opener(t *testing.T) func() storage.Backend {
	path := filepath.Join(t.TempDir(), "mcpfort.db")
	return func() storage.Backend {
		s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestOpenRequiresPath(t *testing.T) {
	if _, err := sqlite.Open(context.Background(), sqlite.Options{}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
}

// TestAuditKeyIndexMigration opens a database whose audit tables are as
// the first two audit migrations left them, with records: they are kept
// as they were, keys stay unique, and lookups by key use the index, which
// now holds the keyed rows only.
func TestAuditKeyIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mcpfort.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE mcpfort_audit_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"0001_init.sql", "0002_answer_key.sql"} {
		body, err := os.ReadFile(filepath.Join("migrations", "audit", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := old.Exec(`INSERT INTO mcpfort_audit_migrations VALUES (?, ?, 0)`, i+1, name); err != nil {
			t.Fatal(err)
		}
	}
	want := []storage.AuditRow{
		{Seq: 1, TimeUS: 10, Record: `{"seq":1}`, Hash: "h1"},
		{Seq: 2, TimeUS: 20, Record: `{"seq":2}`, Hash: "h2", Key: "k2"},
		{Seq: 3, TimeUS: 30, Record: `{"seq":3}`, Hash: "h3"},
	}
	for _, r := range want {
		var key any
		if r.Key != "" {
			key = r.Key
		}
		if _, err := old.Exec(`INSERT INTO audit_records (seq, time_us, record, hash, answer_key) VALUES (?, ?, ?, ?, ?)`,
			r.Seq, r.TimeUS, r.Record, r.Hash, key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.Exec(`UPDATE audit_head SET seq = 3, hash = 'h3'`); err != nil {
		t.Fatal(err)
	}
	old.Close()

	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []storage.AuditRow
	if err := s.AuditRows(ctx, storage.AuditFilter{}, func(r storage.AuditRow) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows after the migration:\n got %v\nwant %v", got, want)
	}
	// The key a row holds is taken; a row written with it anyway fails.
	err = s.AppendAudit(ctx, []string{"k2", "k4"}, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		if h.Seq != 3 || !taken["k2"] || taken["k4"] {
			t.Errorf("head %+v, taken %v", h, taken)
		}
		return []storage.AuditRow{{Seq: 4, TimeUS: 40, Record: "r4", Hash: "h4", Key: "k4"}, {Seq: 5, TimeUS: 50, Record: "r5", Hash: "h5"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.AppendAudit(ctx, nil, func(storage.AuditHead, map[string]bool) ([]storage.AuditRow, error) {
		return []storage.AuditRow{{Seq: 6, TimeUS: 60, Record: "r6", Hash: "h6", Key: "k2"}}, nil
	})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("a second row with key k2: %v", err)
	}
	// Three keys and more are looked up in one query.
	err = s.AppendAudit(ctx, []string{"k7", "k2", "k\"\u2028<4>", "k4"}, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		if h.Seq != 5 || len(taken) != 2 || !taken["k2"] || !taken["k4"] {
			t.Errorf("head %+v, taken %v", h, taken)
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(ON)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var def string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'audit_records_answer_key'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "WHERE answer_key IS NOT NULL") {
		t.Errorf("index: %s", def)
	}
	plan := func(q string, args ...any) string {
		t.Helper()
		var plan strings.Builder
		rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "\n")
		}
		return plan.String()
	}
	if p := plan(`SELECT 1 FROM audit_records WHERE answer_key = ?`, "k2"); !strings.Contains(p, "INDEX audit_records_answer_key (answer_key=?)") {
		t.Errorf("a lookup by key does not use the index:\n%s", p)
	}
	// The appends' lookup of a batch's keys (sqlstore.auditKeysSQLite).
	if p := plan(`SELECT answer_key FROM audit_records WHERE answer_key IS NOT NULL AND answer_key IN (SELECT value FROM json_each(?))`, `["k2","k4"]`); !strings.Contains(p, "INDEX audit_records_answer_key (answer_key=?)") {
		t.Errorf("the lookup of a batch's keys does not use the index:\n%s", p)
	}

	// 0004: seq is the rowid, without an index of its own; the table
	// stays append-only.
	var autoindexes int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'audit_records' AND name LIKE 'sqlite_autoindex_%'`).Scan(&autoindexes); err != nil {
		t.Fatal(err)
	}
	if autoindexes != 0 {
		t.Errorf("audit_records has %d automatic indexes, want none (seq is the rowid)", autoindexes)
	}
	var rowid, seq int64
	if err := db.QueryRow(`SELECT rowid, seq FROM audit_records WHERE seq = 4`).Scan(&rowid, &seq); err != nil || rowid != 4 || seq != 4 {
		t.Errorf("rowid %d for seq %d (%v), want the same", rowid, seq, err)
	}
	rw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	for _, q := range []string{`UPDATE audit_records SET hash = 'x' WHERE seq = 1`, `DELETE FROM audit_records WHERE seq = 1`} {
		if _, err := rw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger's refusal", q, err)
		}
	}
}
