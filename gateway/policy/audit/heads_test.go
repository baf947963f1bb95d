package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

var testKey = bytes.Repeat([]byte("k"), 32)

func openHeads(t *testing.T, file string, now func() time.Time) *audit.HeadsWriter {
	t.Helper()
	w, err := audit.OpenHeads(audit.HeadsOptions{Key: testKey, File: file, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func readHeads(t *testing.T, file string) []audit.SignedHead {
	t.Helper()
	hs, err := audit.ReadHeadsFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// TestHeadsFile: heads are appended to a private file, only when the
// chain moved, and verify under the public key derived from the chain key.
func TestHeadsFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	file := filepath.Join(dir, "audit-heads.jsonl")
	now := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)
	w := openHeads(t, file, func() time.Time { return now })
	for _, h := range []audit.Head{{Seq: 0}, {Seq: 3, Hash: "hmac-sha256:03"}, {Seq: 3, Hash: "hmac-sha256:03"}, {Seq: 2, Hash: "x"}, {Seq: 7, Hash: "hmac-sha256:07"}} {
		if err := w.WriteHead(h); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, file: 0o600} {
		st, err := os.Stat(path)
		if err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, st.Mode(), want, err)
		}
	}
	hs := readHeads(t, file)
	var got []string
	for _, h := range hs {
		got = append(got, fmt.Sprintf("%d:%s@%d", h.Seq, h.Hash, h.Line))
		if !h.Time.Equal(now.Truncate(time.Microsecond)) {
			t.Errorf("head time %v", h.Time)
		}
	}
	if diff := cmp.Diff([]string{"3:hmac-sha256:03@1", "7:hmac-sha256:07@2"}, got); diff != "" {
		t.Fatalf("heads (-want +got):\n%s", diff)
	}
	pub, _ := audit.HeadPublicKey(testKey)
	if w.PublicKey() != base64.RawURLEncoding.EncodeToString(pub) {
		t.Fatal("PublicKey differs from HeadPublicKey")
	}
	if k, err := audit.ParsePublicKey(w.PublicKey()); err != nil || !k.Equal(pub) {
		t.Fatalf("ParsePublicKey: %v", err)
	}

	// Reopened, the writer appends after what is there, and does not
	// repeat the last head.
	w = openHeads(t, file, func() time.Time { return now })
	for _, h := range []audit.Head{{Seq: 7, Hash: "hmac-sha256:07"}, {Seq: 9, Hash: "hmac-sha256:09"}} {
		if err := w.WriteHead(h); err != nil {
			t.Fatal(err)
		}
	}
	if hs := readHeads(t, file); len(hs) != 3 || hs[2].Seq != 9 {
		t.Fatalf("after reopening: %+v", hs)
	}
}

// TestHeadsPartialLine: a line cut short by a crash is removed when the
// file is opened again, so the file stays readable.
func TestHeadsPartialLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "heads.jsonl")
	w := openHeads(t, file, nil)
	if err := w.WriteHead(audit.Head{Seq: 1, Hash: "h1"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f, _ := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":2,"hash":"h2","ti`)
	f.Close()
	if _, err := audit.ReadHeadsFile(file); err == nil || !strings.Contains(err.Error(), "line 2 is not a signed head") {
		t.Fatalf("partial line read: %v", err)
	}
	w = openHeads(t, file, nil)
	if err := w.WriteHead(audit.Head{Seq: 2, Hash: "h2"}); err != nil {
		t.Fatal(err)
	}
	if hs := readHeads(t, file); len(hs) != 2 || hs[1].Seq != 2 {
		t.Fatalf("heads %+v", hs)
	}
}

// TestForgedHeads: someone who can write the heads file but not read the
// chain key cannot add or alter a head: Verify refuses it.
func TestForgedHeads(t *testing.T) {
	database := storagetest.SQLite(t)
	s := open(t, database, testKey)
	appendN(t, s, 1, 5)
	file := filepath.Join(t.TempDir(), "heads.jsonl")
	w := openHeads(t, file, nil)
	h, _ := s.Head(context.Background())
	if err := w.WriteHead(h); err != nil {
		t.Fatal(err)
	}
	good := readHeads(t, file)[0]

	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub := otherPriv.Public().(ed25519.PublicKey)
	tests := []struct {
		name string
		edit func(h *audit.SignedHead)
		want string
	}{
		{"earlier record", func(h *audit.SignedHead) { h.Seq = 3 }, "its signature does not verify"},
		{"other hash", func(h *audit.SignedHead) { h.Hash = "hmac-sha256:00" }, "its signature does not verify"},
		{"other time", func(h *audit.SignedHead) { h.Time = h.Time.Add(time.Second) }, "its signature does not verify"},
		{"bad signature", func(h *audit.SignedHead) { h.Sig = "!!" }, "its signature does not verify"},
		{"attacker's key", func(h *audit.SignedHead) {
			h.KeyID = audit.KeyID(otherPub)
		}, "not by this chain's key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forged := good
			tt.edit(&forged)
			rep, err := audit.Verify(context.Background(), s, audit.VerifyOptions{Key: testKey, Heads: []audit.SignedHead{good, forged}})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.First().Kind != "head_signature" || !strings.Contains(rep.First().Detail, tt.want) {
				t.Fatalf("problems %+v", rep.Problems)
			}
		})
	}
	// The public key alone checks heads (the records then need the key).
	pub, _ := audit.HeadPublicKey(testKey)
	rep, err := audit.Verify(context.Background(), s, audit.VerifyOptions{Heads: []audit.SignedHead{good}, HeadKey: pub})
	if err != nil || rep.Heads != 1 || rep.LastHead != 5 || !cmp.Equal(kinds(rep), []string{"key@1"}) {
		t.Fatalf("with the public key: %+v %v", rep, err)
	}
	rep, _ = audit.Verify(context.Background(), s, audit.VerifyOptions{Heads: []audit.SignedHead{good}, HeadKey: otherPub})
	if got := kinds(rep); !cmp.Equal(got, []string{"key@1", "head_signature@5"}) {
		t.Fatalf("with another public key: %v", got)
	}
}

// TestKeyedFrom: a chain that was plain SHA-256 until the key was created
// verifies; rewriting keyed records without the key does not.
func TestKeyedFrom(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			plain := open(t, b.database, nil)
			appendN(t, plain, 1, 3)
			keyed := open(t, b.database, testKey)
			appendN(t, keyed, 4, 3)
			if rep := verify(t, keyed, testKey); len(rep.Problems) != 3 {
				t.Fatalf("keyed from 1 (the default): %v", kinds(rep))
			}
			opts := audit.VerifyOptions{Key: testKey, KeyedFrom: 4}
			if rep := verifyOpts(t, keyed, opts); !rep.OK() {
				t.Fatalf("keyed from 4: %v", kinds(rep))
			}
			// Rewrite record 5 onwards without the key: plain SHA-256.
			db := storagetest.Raw(t, b.database)
			untrigger(t, db, b.name)
			rechainPlain(t, db, 5)
			if got := kinds(verifyOpts(t, keyed, opts)); !cmp.Equal(got, []string{"edited@5", "edited@6"}) {
				t.Fatalf("rewritten without the key: %v", got)
			}
			// Even with a later (wrong) KeyedFrom, no record may follow a
			// keyed one unkeyed.
			if got := kinds(verifyOpts(t, keyed, audit.VerifyOptions{Key: testKey, KeyedFrom: 100})); !cmp.Equal(got, []string{"edited@5", "edited@6"}) {
				t.Fatalf("plain after keyed: %v", got)
			}
		})
	}
}

func verifyOpts(t *testing.T, s *audit.Store, opts audit.VerifyOptions) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// rechainPlain rewrites every record from seq on with a plain SHA-256
// chain (prev_hash fixed up) and moves the head row: what someone with
// write access to the database but not the key can do.
func rechainPlain(t *testing.T, db *sql.DB, from int64) {
	t.Helper()
	rows, err := db.Query(`SELECT seq, record, hash FROM audit_records WHERE seq >= $1 ORDER BY seq`, from-1)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		seq          int64
		record, hash string
	}
	var recs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.seq, &r.record, &r.hash); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	rows.Close()
	prev := recs[0].hash
	for i := 1; i < len(recs); i++ {
		r := recs[i]
		c := strings.Replace(r.record, `"prev_hash":"`+recs[i-1].hash+`"`, `"prev_hash":"`+prev+`"`, 1)
		sum := sha256.Sum256([]byte(c))
		h := "sha256:" + hex.EncodeToString(sum[:])
		storagetest.Exec(t, db, fmt.Sprintf(`UPDATE audit_records SET record = '%s', hash = '%s' WHERE seq = %d`, strings.ReplaceAll(c, "'", "''"), h, r.seq))
		prev = h
	}
	storagetest.Exec(t, db, fmt.Sprintf(`UPDATE audit_head SET hash = '%s'`, prev))
}

// TestHeadsCatchRewrites: with signed heads, a tail removed with the head
// row rewound, and a rechained edit, fail verification; records written
// after the last head are protected by the chain alone.
func TestHeadsCatchRewrites(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB)
		want   []string
	}{
		{"untouched", func(*testing.T, *sql.DB) {}, nil},
		{"tail cut before the last head", func(t *testing.T, db *sql.DB) {
			storagetest.Exec(t, db, `DELETE FROM audit_records WHERE seq >= 4`,
				`UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_records WHERE seq = 3)`)
		}, []string{"truncated@4"}},
		{"tail cut after the last head", func(t *testing.T, db *sql.DB) {
			// Undetectable until the next head: the interval bounds it.
			storagetest.Exec(t, db, `DELETE FROM audit_records WHERE seq >= 6`,
				`UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_records WHERE seq = 5)`)
		}, nil},
		{"middle record deleted", func(t *testing.T, db *sql.DB) {
			storagetest.Exec(t, db, `DELETE FROM audit_records WHERE seq = 2`)
		}, []string{"gap@2", "broken_link@3"}},
		{"rechained without the key", func(t *testing.T, db *sql.DB) {
			storagetest.Exec(t, db, `UPDATE audit_records SET record = replace(record, '"decision":"allow"', '"decision":"deny"') WHERE seq = 2`)
			rechainPlain(t, db, 2)
		}, []string{"edited@2", "edited@3", "edited@4", "edited@5", "head@5", "edited@6", "edited@7"}},
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
				s := open(t, database, testKey)
				file := filepath.Join(t.TempDir(), "heads.jsonl")
				w := openHeads(t, file, nil)
				appendN(t, s, 1, 5)
				h, _ := s.Head(context.Background())
				if err := w.WriteHead(h); err != nil {
					t.Fatal(err)
				}
				appendN(t, s, 6, 2)
				db := storagetest.Raw(t, database)
				untrigger(t, db, b.name)
				tt.tamper(t, db)
				rep := verifyOpts(t, s, audit.VerifyOptions{Key: testKey, Heads: readHeads(t, file)})
				if diff := cmp.Diff(tt.want, kinds(rep)); diff != "" {
					t.Errorf("problems (-want +got):\n%s\n%+v", diff, rep.Problems)
				}
				if rep.LastHead != 5 {
					t.Errorf("last head %d", rep.LastHead)
				}
			})
		}
	}
}

// TestLogWritesHeads: the log writes the store's head when it starts,
// heads while records are written, and the last one on Close.
func TestLogWritesHeads(t *testing.T) {
	ctx := context.Background()
	s := open(t, storagetest.SQLite(t), testKey)
	appendN(t, s, 1, 2)
	file := filepath.Join(t.TempDir(), "heads.jsonl")
	watch := newLogWatch()
	w, err := audit.OpenHeads(audit.HeadsOptions{Key: testKey, File: file, Logger: slog.New(watch)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	l, err := audit.New(audit.Options{Sink: s, Heads: w, HeadInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	watch.wait(t, "audit: chain head") // the store's head, at start
	if hs := readHeads(t, file); len(hs) != 1 || hs[0].Seq != 2 {
		t.Fatalf("heads at start: %+v", hs)
	}
	if err := l.Add(sample(3)); err != nil {
		t.Fatal(err)
	}
	watch.wait(t, "audit: chain head") // within the interval
	if hs := readHeads(t, file); len(hs) != 2 || hs[1].Seq != 3 {
		t.Fatalf("heads after a write: %+v", hs)
	}
	if err := l.Add(sample(4)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	hs := readHeads(t, file)
	if last := hs[len(hs)-1]; last.Seq != 4 {
		t.Fatalf("last head %+v", last)
	}
	rep := verifyOpts(t, s, audit.VerifyOptions{Key: testKey, Heads: hs})
	if !rep.OK() || rep.LastHead != 4 {
		t.Fatalf("report %+v", rep)
	}
	var line map[string]any
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &line); err != nil || len(line) != 5 {
		t.Fatalf("head line %s: %v", b, err)
	}
}

// FuzzReadHeads: whatever a heads file holds, ReadHeads returns an error
// or heads with every member set, and never panics.
func FuzzReadHeads(f *testing.F) {
	file := filepath.Join(f.TempDir(), "h.jsonl")
	w, _ := audit.OpenHeads(audit.HeadsOptions{Key: testKey, File: file})
	w.WriteHead(audit.Head{Seq: 1, Hash: "hmac-sha256:01"})
	w.Close()
	good, _ := os.ReadFile(file)
	for _, seed := range []string{string(good), "", "\n\n", `{"seq":1}`, `{"seq":-1,"hash":"h","time":"2026-01-01T00:00:00Z","key_id":"k","sig":"s"}`,
		`{"seq":1,"hash":"h","time":"2026-01-01T00:00:00Z","key_id":"k","sig":"s","extra":1}`, `{"seq":1,"hash":"h","time":"2026-01-01T00:00:00Z","key_id":"k","sig":"s"} {}`,
		strings.Repeat("x", 5000)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := audit.ReadHeads(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, h := range hs {
			if h.Seq <= 0 || h.Hash == "" || h.KeyID == "" || h.Sig == "" || h.Time.IsZero() || h.Line <= 0 {
				t.Fatalf("accepted an incomplete head %+v", h)
			}
		}
	})
}
