package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	_ "modernc.org/sqlite"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/backend"
)

// openState opens the state database as the gateway does, until the test
// ends.
func openState(t *testing.T, database, dir string) storage.Backend {
	t.Helper()
	db, err := backend.Open(context.Background(), database, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// auditDB is a state database for the attack tests, and a raw handle on
// it such as someone with write access to the database has.
type auditDB struct {
	name     string
	database func(t *testing.T, dir string) string
	open     func(t *testing.T, database, dir string) *sql.DB
}

var auditDBs = []auditDB{
	{
		name:     "sqlite",
		database: func(*testing.T, string) string { return "sqlite" },
		open: func(t *testing.T, _, dir string) *sql.DB {
			db, err := sql.Open("sqlite", filepath.Join(dir, "mcpfort.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	},
	{
		name: "postgres",
		database: func(t *testing.T, _ string) string {
			base := os.Getenv("MCPFORT_TEST_POSTGRES")
			if base == "" {
				base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
			}
			cfg, err := pgx.ParseConfig(base)
			if err != nil {
				t.Fatal(err)
			}
			admin := stdlib.OpenDB(*cfg)
			t.Cleanup(func() { admin.Close() })
			if err := admin.Ping(); err != nil {
				t.Skipf("PostgreSQL not reachable: %v", err)
			}
			schema := "mcpfort_app_" + strings.ToLower(rand.Text()[:12])
			if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
			u, _ := url.Parse(base)
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		},
		open: func(t *testing.T, database, _ string) *sql.DB {
			cfg, err := pgx.ParseConfig(database)
			if err != nil {
				t.Fatal(err)
			}
			db := stdlib.OpenDB(*cfg)
			t.Cleanup(func() { db.Close() })
			return db
		},
	},
}

// storedRecord is one row of audit_records.
type storedRecord struct {
	seq          int64
	record, hash string
}

func readChain(t *testing.T, db *sql.DB) []storedRecord {
	t.Helper()
	rows, err := db.Query(`SELECT seq, record, hash FROM audit_records ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedRecord
	for rows.Next() {
		var r storedRecord
		if err := rows.Scan(&r.seq, &r.record, &r.hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// dropGuards removes the append-only triggers, as whoever can write the
// database can.
func dropGuards(t *testing.T, db *sql.DB, dbName string) {
	t.Helper()
	stmts := []string{`DROP TRIGGER audit_records_no_update`, `DROP TRIGGER audit_records_no_delete`}
	if dbName == "postgres" {
		stmts = []string{`DROP TRIGGER audit_records_no_change ON audit_records`, `DROP TRIGGER audit_records_no_truncate ON audit_records`}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rewrite replaces the whole chain with recs, renumbered from 1 and
// re-linked, the hash of each record that changed computed by hash, and
// moves the head row to the new last record: a forger's complete,
// self-consistent chain.
func rewrite(t *testing.T, db *sql.DB, recs []storedRecord, hash func(canonical string) string) {
	t.Helper()
	stored := map[string]string{} // hash: record
	for _, r := range readChain(t, db) {
		stored[r.hash] = r.record
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM audit_records`); err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i, r := range recs {
		c := r.record
		oldPrev := jsonField(t, c, "prev_hash")
		c = strings.Replace(c, `"prev_hash":"`+oldPrev+`"`, `"prev_hash":"`+prev+`"`, 1)
		c = strings.Replace(c, fmt.Sprintf(`"seq":%d,`, r.seq), fmt.Sprintf(`"seq":%d,`, i+1), 1)
		h := r.hash
		if stored[h] != c {
			h = hash(c)
		}
		timeUS := jsonField(t, c, "time_us")
		if _, err := tx.Exec(`INSERT INTO audit_records (seq, time_us, record, hash) VALUES ($1, $2, $3, $4)`, i+1, timeUS, c, h); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	if _, err := tx.Exec(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, len(recs), prev); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// jsonField reads a top-level string or number member of a canonical
// record without decoding it, as a quick script would.
func jsonField(t *testing.T, canonical, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(canonical, `"`+name+`":`)
	if !ok {
		t.Fatalf("no %s in %s", name, canonical)
	}
	if strings.HasPrefix(rest, `"`) {
		v, _, _ := strings.Cut(rest[1:], `"`)
		return v
	}
	v, _, _ := strings.Cut(rest, ",")
	return strings.TrimSuffix(v, "}")
}

func plainSHA256(c string) string {
	sum := sha256.Sum256([]byte(c))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TestAuditChainRewriteAttacks runs a gateway with the default audit
// configuration, then attacks its database directly with SQL, as someone
// with write access to the database but not to the state directory's key
// files: each forgery recomputes a self-consistent chain and head row, and
// "mcpfort audit verify" must still call the chain broken and name the
// first bad record.
func TestAuditChainRewriteAttacks(t *testing.T) {
	attacks := []struct {
		name string
		// do attacks and returns what verify must name.
		do func(t *testing.T, db *sql.DB, database, dir string, recs []storedRecord) (want string)
	}{
		{
			// Edit a record and recompute every later hash with plain
			// SHA-256, the way a script would.
			name: "edit and recompute with SHA-256",
			do: func(t *testing.T, db *sql.DB, _, _ string, recs []storedRecord) string {
				recs[2].record = strings.Replace(recs[2].record, `"decision":"allow"`, `"decision":"deny"`, 1)
				rewrite(t, db, recs, plainSHA256)
				return "record 3:"
			},
		},
		{
			// The same through mcpfort's own code: an audit store opened
			// without a key rechains the edited records.
			name: "edit and rechain with the key-less store",
			do: func(t *testing.T, db *sql.DB, database, dir string, recs []storedRecord) string {
				if _, err := db.Exec(`DELETE FROM audit_records`); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`UPDATE audit_head SET seq = 0, hash = ''`); err != nil {
					t.Fatal(err)
				}
				var forged []audit.Record
				for _, r := range recs {
					forged = append(forged, forge(t, r))
				}
				forged[2].Tool = "harmless"
				s, err := audit.NewStore(openState(t, database, dir), audit.StoreOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Append(context.Background(), forged); err != nil {
					t.Fatal(err)
				}
				return "record 1:"
			},
		},
		{
			// Key the forgery with a key of the attacker's own.
			name: "edit and recompute with another key",
			do: func(t *testing.T, db *sql.DB, _, _ string, recs []storedRecord) string {
				recs[2].record = strings.Replace(recs[2].record, `"decision":"allow"`, `"decision":"deny"`, 1)
				rewrite(t, db, recs, func(c string) string { return "hmac-sha256:" + plainSHA256(c + "attacker")[len("sha256:"):] })
				return "record 3:"
			},
		},
		{
			// Remove the tail and rewind the head row to the new last
			// record.
			name: "truncate the tail",
			do: func(t *testing.T, db *sql.DB, _, _ string, recs []storedRecord) string {
				last := recs[len(recs)-3]
				if _, err := db.Exec(`DELETE FROM audit_records WHERE seq > $1`, last.seq); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, last.seq, last.hash); err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("record %d:", last.seq+1)
			},
		},
		{
			// Delete a record in the middle and renumber the rest.
			name: "delete a record and renumber",
			do: func(t *testing.T, db *sql.DB, _, _ string, recs []storedRecord) string {
				recs = append(recs[:3:3], recs[4:]...)
				rewrite(t, db, recs, plainSHA256)
				return "record 4:"
			},
		},
	}
	for _, b := range auditDBs {
		for _, at := range attacks {
			t.Run(b.name+"/"+at.name, func(t *testing.T) {
				p := writeConfig(t, "")
				dir := filepath.Dir(p)
				database := b.database(t, dir)
				if err := os.WriteFile(p, fmt.Appendf(nil, `
listen: 127.0.0.1:0
log: {level: error}
state: {database: %q}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, database, filepath.Join(binDir, "mcpfort-everything")), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg, err := config.Load(p)
				if err != nil {
					t.Fatal(err)
				}
				base, stop := start(t, cfg)
				c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
				cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 5 {
					if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": fmt.Sprint(i)}}); err != nil {
						t.Fatal(err)
					}
				}
				cs.Close()
				stop()

				mcpfort := filepath.Join(binDir, "mcpfort")
				if out, err := exec.Command(mcpfort, "audit", "verify", "--config", p).CombinedOutput(); err != nil {
					t.Fatalf("audit verify before the attack: %v\n%s", err, out)
				}
				db := b.open(t, database, dir)
				recs := readChain(t, db)
				if len(recs) < 6 {
					t.Fatalf("%d records, want at least 6", len(recs))
				}
				dropGuards(t, db, b.name)
				want := at.do(t, db, database, dir, recs)

				out, err := exec.Command(mcpfort, "audit", "verify", "--config", p).CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("audit verify after the attack: %v, want exit status 1\n%s", err, out)
				}
				t.Logf("verify: %s", out)
				if !strings.Contains(string(out), want) {
					t.Fatalf("audit verify does not name %s:\n%s", want, out)
				}
				// Export still works on a broken chain: it is evidence.
				if out, err := exec.Command(mcpfort, "audit", "export", "--config", p).CombinedOutput(); err != nil {
					t.Fatalf("audit export: %v\n%s", err, out)
				}
			})
		}
	}
}

// forge reads a stored record back into an audit.Record to append anew.
func forge(t *testing.T, r storedRecord) audit.Record {
	t.Helper()
	var rec audit.Record
	for _, f := range []struct {
		name string
		dst  *string
	}{{"request_id", &rec.RequestID}, {"rpc_id", &rec.RPCID}, {"server", &rec.Server}, {"method", &rec.Method},
		{"tool", &rec.Tool}, {"args_hash", &rec.ArgsHash}, {"decision", &rec.Decision}, {"status", &rec.Status}} {
		*f.dst = jsonField(t, r.record, f.name)
	}
	var us int64
	fmt.Sscan(jsonField(t, r.record, "time_us"), &us)
	rec.Time = time.UnixMicro(us)
	return rec
}
