package auditcmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/audit/auditcmd"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

func run(t *testing.T, s *audit.Store, opts auditcmd.Options, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := auditcmd.Run(context.Background(), s, args, &out, &errb, opts)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := []byte(strings.Repeat("k", 32))
	keyFile := filepath.Join(dir, "bare.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	headsFile := filepath.Join(dir, "audit-heads.jsonl")
	database := storagetest.SQLite(t)
	s, err := audit.NewStore(storagetest.Open(t, database), audit.StoreOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := auditcmd.Options{Key: key, KeyedFrom: 1, HeadsFile: headsFile, Now: func() time.Time { return now }}
	if code, out, _ := run(t, s, opts, "head"); code != 0 || !strings.Contains(out, "empty") {
		t.Fatalf("head of an empty log: %d %s", code, out)
	}
	var recs []audit.Record
	for i := range 5 {
		recs = append(recs, audit.Record{Time: now.Add(time.Duration(i-4) * 24 * time.Hour), Server: "s", Method: "tools/call", Decision: audit.Allow, Status: audit.StatusOK})
	}
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, s, opts, "head")
	anchor := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(anchor, "5:hmac-sha256:") {
		t.Fatalf("head: %d %q", code, out)
	}
	if code, out, _ = run(t, s, opts, "verify"); code != 1 || !strings.Contains(out, "first bad record: 1 (head)") || !strings.Contains(out, "no signed heads") {
		t.Fatalf("verify without a heads file: %d\n%s", code, out)
	}
	hw, err := audit.OpenHeads(audit.HeadsOptions{Key: key, File: headsFile})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.Head(ctx)
	if err := hw.WriteHead(h); err != nil {
		t.Fatal(err)
	}
	hw.Close()
	if code, out, _ = run(t, s, opts, "verify", "--anchor", anchor); code != 0 || !strings.Contains(out, "1 signed heads (the last at record 5): chain intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	code, out, _ = run(t, s, opts, "head", "--public-key")
	if code != 0 {
		t.Fatalf("head --public-key: %d %s", code, out)
	}
	if code, out, _ = run(t, s, auditcmd.Options{}, "verify", "--heads", headsFile, "--head-key", strings.TrimSpace(out), "--key-file", keyFile); code != 0 {
		t.Fatalf("verify with the public key and a bare key file: %d\n%s", code, out)
	}
	if code, out, _ = run(t, s, auditcmd.Options{}, "verify", "--heads", headsFile); code != 1 || !strings.Contains(out, "keyed") {
		t.Fatalf("verify without the key: %d\n%s", code, out)
	}
	code, out, _ = run(t, s, opts, "export", "--since", "2d")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 3 {
		t.Fatalf("export --since 2d: %d\n%s", code, out)
	}
	var r audit.Record
	if err := json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &r); err != nil || r.Seq != 3 {
		t.Fatalf("exported line: %+v %v", r, err)
	}
	file := filepath.Join(dir, "out.jsonl")
	if code, _, errOut := run(t, s, opts, "export", "--since", "2026-02-26", "--until", "2026-02-28T12:00:00Z", "--output", file); code != 0 || !strings.Contains(errOut, "exported 2 records") {
		t.Fatalf("export to file: %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(file); strings.Count(string(b), "\n") != 2 {
		t.Fatalf("file:\n%s", b)
	}

	// Remove the tail and rewind the head: the signed head notices, and
	// so does the anchor.
	db := storagetest.Raw(t, database)
	storagetest.Exec(t, db, `DROP TRIGGER audit_records_no_delete`, `DELETE FROM audit_records WHERE seq = 5`,
		`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_records WHERE seq = 4)`)
	if code, out, _ = run(t, s, opts, "verify", "--no-heads"); code != 0 {
		t.Fatalf("a consistent shorter chain verifies without heads or anchors: %d\n%s", code, out)
	}
	if code, out, _ = run(t, s, opts, "verify"); code != 1 || !strings.Contains(out, "first bad record: 5 (truncated)") {
		t.Fatalf("verify with the signed heads: %d\n%s", code, out)
	}
	code, out, _ = run(t, s, opts, "verify", "--no-heads", "--anchor", anchor, "--json")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.OK() || rep.Problems[0].Kind != "truncated" || !strings.Contains(rep.Problems[0].Detail, "an anchor names record 5") {
		t.Fatalf("verify with the anchor: %d %v\n%s", code, err, out)
	}

	// A heads file that does not parse is not trusted.
	if err := os.WriteFile(headsFile, []byte("{\"seq\":5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = run(t, s, opts, "verify"); code != 1 || !strings.Contains(out, "line 1 is not a signed head") {
		t.Fatalf("verify with a broken heads file: %d\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	s, err := audit.NewStore(storagetest.Open(t, storagetest.SQLite(t)), audit.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2}, {[]string{"nope"}, 2}, {[]string{"verify", "extra"}, 2}, {[]string{"verify", "--anchor", "x"}, 2},
		{[]string{"export", "--since", "yesterday"}, 2}, {[]string{"head", "x"}, 2}, {[]string{"help"}, 0},
		{[]string{"verify", "--key-file", "/nonexistent"}, 1}, {[]string{"verify"}, 0},
		{[]string{"verify", "--heads", "x", "--no-heads"}, 2}, {[]string{"verify", "--head-key", "bad"}, 2},
		{[]string{"verify", "--heads", "/nonexistent"}, 1}, {[]string{"head", "--public-key"}, 1},
	}
	for _, tt := range tests {
		if code, _, _ := run(t, s, auditcmd.Options{HeadsFile: "/nonexistent/heads.jsonl"}, tt.args...); code != tt.code {
			t.Errorf("audit %v: exit %d, want %d", tt.args, code, tt.code)
		}
	}
}
