package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

// backend is one database for the audit store, with a raw handle for
// tampering.
type backend struct {
	name     string
	database string
}

func backends(t *testing.T) []backend {
	return []backend{{"sqlite", storagetest.SQLite(t)}, {"postgres", storagetest.Postgres(t)}}
}

func open(t *testing.T, database string, key []byte) *audit.Store {
	t.Helper()
	s, err := audit.NewStore(storagetest.Open(t, database), audit.StoreOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sample(i int) audit.Record {
	return audit.Record{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("req-%d", i),
		RPCID: fmt.Sprint(i), Issuer: "https://issuer.test", Subject: "alice", Client: "cli", Server: "files",
		Method: "tools/call", Tool: "read_file", ArgsHash: "sha256:00", Decision: audit.Allow, Status: audit.StatusOK, LatencyMicros: int64(100 + i),
	}
}

func appendN(t *testing.T, s *audit.Store, from, n int) {
	t.Helper()
	var recs []audit.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, sample(i))
	}
	if err := s.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, s *audit.Store, key []byte, anchors ...audit.Head) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), s, audit.VerifyOptions{Key: key, Anchors: anchors})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func kinds(rep *audit.Report) []string {
	var out []string
	for _, p := range rep.Problems {
		out = append(out, fmt.Sprintf("%s@%d", p.Kind, p.Seq))
	}
	return out
}

// untrigger removes the append-only guard, as someone with write access to
// the database can.
func untrigger(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	if name == "sqlite" {
		storagetest.Exec(t, db, `DROP TRIGGER audit_records_no_update`, `DROP TRIGGER audit_records_no_delete`)
	} else {
		storagetest.Exec(t, db, `DROP TRIGGER audit_records_no_change ON audit_records`)
	}
}

func TestAppendOnlyGuard(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := open(t, b.database, nil)
			appendN(t, s, 1, 3)
			db := storagetest.Raw(t, b.database)
			for _, q := range []string{`UPDATE audit_records SET hash = 'sha256:00' WHERE seq = 2`, `DELETE FROM audit_records WHERE seq = 3`} {
				if _, err := db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: err = %v, want the append-only guard", q, err)
				}
			}
			if rep := verify(t, s, nil); !rep.OK() || rep.Records != 3 {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// TestTampering edits the database behind the log's back in every way
// Verify must notice.
func TestTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  []string
		anchors func(h audit.Head) []audit.Head
		want    []string
	}{
		{name: "untouched", want: nil},
		{name: "edited field", tamper: []string{`UPDATE audit_records SET record = replace(record, '"subject":"alice"', '"subject":"mallory"') WHERE seq = 3`}, want: []string{"edited@3"}},
		{name: "edited decision", tamper: []string{`UPDATE audit_records SET record = replace(record, '"decision":"allow"', '"decision":"deny"') WHERE seq = 2`}, want: []string{"edited@2"}},
		{name: "edited time column", tamper: []string{`UPDATE audit_records SET time_us = time_us + 1 WHERE seq = 2`}, want: []string{"edited@2"}},
		{name: "removed record", tamper: []string{`DELETE FROM audit_records WHERE seq = 3`}, want: []string{"gap@3", "broken_link@4"}},
		{name: "removed tail", tamper: []string{`DELETE FROM audit_records WHERE seq >= 4`}, want: []string{"truncated@4"}},
		{
			name:   "removed tail and rewound head",
			tamper: []string{`DELETE FROM audit_records WHERE seq >= 4`, `UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_records WHERE seq = 3)`},
			anchors: func(h audit.Head) []audit.Head {
				return []audit.Head{h}
			},
			want: []string{"truncated@4"},
		},
		{
			name:   "reordered",
			tamper: []string{`UPDATE audit_records SET seq = 100 WHERE seq = 2`, `UPDATE audit_records SET seq = 2 WHERE seq = 3`, `UPDATE audit_records SET seq = 3 WHERE seq = 100`},
			want:   []string{"edited@2", "broken_link@2", "edited@3", "broken_link@3", "broken_link@4"},
		},
		{
			name:   "forged record appended",
			tamper: []string{`INSERT INTO audit_records (seq, time_us, record, hash) SELECT 6, time_us, record, hash FROM audit_records WHERE seq = 5`},
			want:   []string{"edited@6", "broken_link@6", "head_mismatch@6"},
		},
	}
	for _, b := range backends(t) {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.name, func(t *testing.T) {
				var database string
				if b.name == "sqlite" {
					database = storagetest.SQLite(t)
				} else {
					database = storagetest.Postgres(t)
				}
				s := open(t, database, nil)
				appendN(t, s, 1, 5)
				head, _ := s.Head(context.Background())
				db := storagetest.Raw(t, database)
				untrigger(t, db, b.name)
				storagetest.Exec(t, db, tt.tamper...)
				var anchors []audit.Head
				if tt.anchors != nil {
					anchors = tt.anchors(head)
				}
				rep := verify(t, s, nil, anchors...)
				want := tt.want
				if diff := cmp.Diff(want, kinds(rep)); diff != "" {
					t.Errorf("problems (-want +got):\n%s\n%+v", diff, rep.Problems)
				}
			})
		}
	}
}

func TestKeyedChain(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 32)
	database := storagetest.SQLite(t)
	s := open(t, database, key)
	appendN(t, s, 1, 4)
	if rep := verify(t, s, key); !rep.OK() {
		t.Fatalf("keyed chain: %v", kinds(rep))
	}
	if got := kinds(verify(t, s, nil)); !cmp.Equal(got, []string{"key@1"}) {
		t.Fatalf("without the key: %v", got)
	}
	other := bytes.Repeat([]byte("x"), 32)
	if got := kinds(verify(t, s, other)); len(got) != 4 {
		t.Fatalf("with the wrong key: %v", got)
	}
	// Recomputing plain hashes after an edit does not fool a keyed chain.
	db := storagetest.Raw(t, database)
	untrigger(t, db, "sqlite")
	storagetest.Exec(t, db, `UPDATE audit_records SET hash = 'sha256:' || substr(hash, 13) WHERE seq = 4`)
	if got := kinds(verify(t, s, key)); len(got) == 0 {
		t.Fatal("an unkeyed record in a keyed chain went unnoticed")
	}
	if _, err := audit.NewStore(storagetest.Open(t, database), audit.StoreOptions{Key: []byte("short")}); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// TestReplicasAppend appends from several store handles at once, as
// replicas do: the chain stays one, contiguous and valid.
func TestReplicasAppend(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for r := range 4 {
				s := open(t, b.database, nil)
				wg.Go(func() {
					for i := range 10 {
						if err := s.Append(context.Background(), []audit.Record{sample(r*100 + i), sample(r*100 + i + 50)}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			s := open(t, b.database, nil)
			rep := verify(t, s, nil)
			if !rep.OK() || rep.Records != 80 || rep.Head.Seq != 80 {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

func TestExport(t *testing.T) {
	s := open(t, storagetest.SQLite(t), nil)
	appendN(t, s, 1, 5)
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), s, &buf, audit.Filter{Since: sample(3).Time})
	if err != nil || n != 3 {
		t.Fatalf("export: %d, %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	var first audit.Record
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := sample(3)
	want.Seq = 3
	if diff := cmp.Diff(want, first, cmpIgnoreHashes()); diff != "" {
		t.Fatalf("exported record (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(first.Hash, "sha256:") || first.PrevHash == "" {
		t.Fatalf("hashes not exported: %+v", first)
	}
}

func cmpIgnoreHashes() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool {
		s := p.String()
		return s == "Hash" || s == "PrevHash"
	}, cmp.Ignore())
}

func TestParseAnchor(t *testing.T) {
	h, err := audit.ParseAnchor("42:sha256:abcd")
	if err != nil || h.Seq != 42 || h.Hash != "sha256:abcd" {
		t.Fatalf("%+v %v", h, err)
	}
	for _, bad := range []string{"", "42", "x:sha256:ab", "0:sha256:ab", "4:md5:ab"} {
		if _, err := audit.ParseAnchor(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestSanitizedStrings(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := open(t, b.database, nil)
			r := sample(1)
			r.Subject = "bad\xffutf8\x00nul"
			if err := s.Append(context.Background(), []audit.Record{r}); err != nil {
				t.Fatal(err)
			}
			if rep := verify(t, s, nil); !rep.OK() {
				t.Fatalf("%v", kinds(rep))
			}
		})
	}
}

// TestAnswerKeyOnce: a record whose answer key the log holds, or an
// earlier record of the same batch holds, is left out without a gap in
// the chain (on both databases), the key is hashed with the record, and
// a row whose key column was edited (to let a second copy in, say) fails
// verification.
func TestAnswerKeyOnce(t *testing.T) {
	key := bytes.Repeat([]byte("k"), 32)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t, b.database, key)
			keyed := func(i int, k string) audit.Record {
				r := sample(i)
				r.AnswerKey = k
				return r
			}
			batch := []audit.Record{keyed(1, "a1"), sample(2), keyed(3, "a1"), keyed(4, "a2")}
			if err := s.Append(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if got := []int64{batch[0].Seq, batch[1].Seq, batch[2].Seq, batch[3].Seq}; !cmp.Equal(got, []int64{1, 2, 0, 3}) {
				t.Fatalf("seqs %v, want the repeated key left out", got)
			}
			again := []audit.Record{keyed(5, "a2"), keyed(6, "a3")}
			if err := s.Append(ctx, again); err != nil {
				t.Fatal(err)
			}
			if again[0].Seq != 0 || again[0].Hash != "" || again[1].Seq != 4 || again[1].PrevHash != batch[3].Hash {
				t.Fatalf("second batch: %+v", again)
			}
			var keys []string
			if err := s.Records(ctx, audit.Filter{}, func(r *audit.Record) error {
				keys = append(keys, r.AnswerKey)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(keys, []string{"a1", "", "a2", "a3"}) {
				t.Fatalf("keys %v", keys)
			}
			if rep := verify(t, s, key); !rep.OK() {
				t.Fatalf("chain: %v", kinds(rep))
			}
			db := storagetest.Raw(t, b.database)
			untrigger(t, db, b.name)
			storagetest.Exec(t, db, `UPDATE audit_records SET answer_key = NULL WHERE seq = 3`)
			if got := kinds(verify(t, s, key)); !cmp.Equal(got, []string{"edited@3"}) {
				t.Fatalf("cleared key column: %v", got)
			}
		})
	}
}
