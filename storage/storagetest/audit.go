package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mcpfort/mcpfort/storage"
)

// AuditOpener returns a new, empty audit store for one test, and a
// function that opens the same database again: a restart, or another
// replica. The suite closes nothing; the opener's test cleanup does.
type AuditOpener func(t *testing.T) (s storage.AuditStore, again func() storage.AuditStore)

// RunAudit runs the audit store's conformance suite.
func RunAudit(t *testing.T, open AuditOpener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.AuditStore, again func() storage.AuditStore)
	}{
		{"Empty", testAuditEmpty},
		{"Append", testAuditAppend},
		{"ChainError", testAuditChainError},
		{"ChainMustFollowHead", testAuditFollowHead},
		{"Filter", testAuditFilter},
		{"StopIteration", testAuditStop},
		{"LargeBatch", testAuditLargeBatch},
		{"Replicas", testAuditReplicas},
		{"Keys", testAuditKeys},
		{"KeyTakenAfterAll", testAuditKeyTaken},
		{"ManyKeys", testAuditManyKeys},
		{"ReplicasShareKeys", testAuditReplicasKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, again := open(t)
			tt.fn(t, s, again)
		})
	}
}

// auditRows returns n rows after head, linked as the audit log links them
// (each record names the hash before it).
func auditRows(head storage.AuditHead, n int, tag string) []storage.AuditRow {
	rows := make([]storage.AuditRow, n)
	prev := head.Hash
	for i := range rows {
		seq := head.Seq + int64(i) + 1
		rows[i] = storage.AuditRow{Seq: seq, TimeUS: t0.UnixMicro() + seq*1000,
			Record: fmt.Sprintf(`{"prev":%q,"seq":%d,"tag":%q}`, prev, seq, tag), Hash: fmt.Sprintf("h-%s-%d", tag, seq)}
		prev = rows[i].Hash
	}
	return rows
}

func appendAudit(t *testing.T, s storage.AuditStore, n int, tag string) []storage.AuditRow {
	t.Helper()
	var out []storage.AuditRow
	must(t, s.AppendAudit(context.Background(), nil, func(h storage.AuditHead, _ map[string]bool) ([]storage.AuditRow, error) {
		out = auditRows(h, n, tag)
		return out, nil
	}))
	return out
}

func allAudit(t *testing.T, s storage.AuditStore, f storage.AuditFilter) []storage.AuditRow {
	t.Helper()
	var out []storage.AuditRow
	must(t, s.AuditRows(context.Background(), f, func(r storage.AuditRow) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func testAuditEmpty(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	ctx := context.Background()
	h, err := s.AuditHead(ctx)
	must(t, err)
	diff(t, storage.AuditHead{}, h)
	_, err = s.AuditRow(ctx, 1)
	wantErr(t, err, storage.ErrNotFound)
	diff(t, []storage.AuditRow(nil), allAudit(t, s, storage.AuditFilter{}))
	// A chain that returns nothing writes nothing.
	must(t, s.AppendAudit(ctx, nil, func(storage.AuditHead, map[string]bool) ([]storage.AuditRow, error) { return nil, nil }))
	h, err = s.AuditHead(ctx)
	must(t, err)
	diff(t, storage.AuditHead{}, h)
}

func testAuditAppend(t *testing.T, s storage.AuditStore, again func() storage.AuditStore) {
	ctx := context.Background()
	first := appendAudit(t, s, 3, "a")
	// Stored byte for byte: quotes, backslashes, non-ASCII, a NUL-free
	// large record.
	odd := `{"q":"it's \"quoted\" \\ back","u":"日本語 ✓ \u2028","big":"` + strings.Repeat("x", 200_000) + `"}`
	var second []storage.AuditRow
	must(t, s.AppendAudit(ctx, nil, func(h storage.AuditHead, _ map[string]bool) ([]storage.AuditRow, error) {
		diff(t, storage.AuditHead{Seq: 3, Hash: "h-a-3"}, h)
		second = []storage.AuditRow{{Seq: 4, TimeUS: 42, Record: odd, Hash: "hmac-sha256:4"}}
		return second, nil
	}))
	h, err := s.AuditHead(ctx)
	must(t, err)
	diff(t, storage.AuditHead{Seq: 4, Hash: "hmac-sha256:4"}, h)
	want := append(first, second...)
	diff(t, want, allAudit(t, s, storage.AuditFilter{}))
	r, err := s.AuditRow(ctx, 4)
	must(t, err)
	diff(t, second[0], r)
	// Another handle on the database (a restart) reads the same.
	diff(t, want, allAudit(t, again(), storage.AuditFilter{}))
}

func testAuditChainError(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	ctx := context.Background()
	appendAudit(t, s, 2, "a")
	boom := errors.New("boom")
	err := s.AppendAudit(ctx, nil, func(storage.AuditHead, map[string]bool) ([]storage.AuditRow, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the chain's own", err)
	}
	h, err := s.AuditHead(ctx)
	must(t, err)
	diff(t, storage.AuditHead{Seq: 2, Hash: "h-a-2"}, h)
}

func testAuditFollowHead(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	ctx := context.Background()
	appendAudit(t, s, 2, "a")
	for _, rows := range [][]storage.AuditRow{
		{{Seq: 2, Record: "{}", Hash: "x"}},                                    // overwrites
		{{Seq: 4, Record: "{}", Hash: "x"}},                                    // a gap
		{{Seq: 3, Record: "{}", Hash: "x"}, {Seq: 5, Record: "{}", Hash: "y"}}, // a gap inside
	} {
		err := s.AppendAudit(ctx, nil, func(storage.AuditHead, map[string]bool) ([]storage.AuditRow, error) { return rows, nil })
		if err == nil {
			t.Errorf("rows %+v after seq 2 were accepted", rows)
		}
	}
	h, err := s.AuditHead(ctx)
	must(t, err)
	diff(t, storage.AuditHead{Seq: 2, Hash: "h-a-2"}, h)
	if n := len(allAudit(t, s, storage.AuditFilter{})); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

func testAuditFilter(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	rows := appendAudit(t, s, 6, "a") // TimeUS = t0 + seq ms
	base := t0.UnixMicro()
	for _, tt := range []struct {
		name string
		f    storage.AuditFilter
		want []storage.AuditRow
	}{
		{"all", storage.AuditFilter{}, rows},
		{"from seq", storage.AuditFilter{FromSeq: 4}, rows[3:]},
		{"since", storage.AuditFilter{SinceUS: base + 2000}, rows[1:]},
		{"until is exclusive", storage.AuditFilter{UntilUS: base + 3000}, rows[:2]},
		{"all three", storage.AuditFilter{FromSeq: 2, SinceUS: base + 3000, UntilUS: base + 5000}, rows[2:4]},
		{"none", storage.AuditFilter{FromSeq: 7}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) { diff(t, tt.want, allAudit(t, s, tt.f)) })
	}
}

func testAuditStop(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	appendAudit(t, s, 5, "a")
	stop := errors.New("stop")
	n := 0
	err := s.AuditRows(context.Background(), storage.AuditFilter{}, func(storage.AuditRow) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("err = %v after %d rows, want stop after 2", err, n)
	}
}

func testAuditLargeBatch(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	// More rows than one multi-row INSERT holds.
	rows := appendAudit(t, s, 1000, "big")
	got := allAudit(t, s, storage.AuditFilter{})
	if len(got) != 1000 {
		t.Fatalf("%d rows, want 1000", len(got))
	}
	diff(t, rows[999], got[999])
	h, err := s.AuditHead(context.Background())
	must(t, err)
	diff(t, storage.AuditHead{Seq: 1000, Hash: "h-big-1000"}, h)
}

// testAuditReplicas appends from two handles at once, as replicas on one
// database do: the chain stays one, numbered without gaps, each batch
// linked to the head it was given.
func testAuditReplicas(t *testing.T, s storage.AuditStore, again func() storage.AuditStore) {
	stores := []storage.AuditStore{s, again()}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			st := stores[i%2]
			for j := range 5 {
				err := st.AppendAudit(context.Background(), nil, func(h storage.AuditHead, _ map[string]bool) ([]storage.AuditRow, error) {
					return auditRows(h, 3, fmt.Sprintf("%d.%d", i, j)), nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rows := allAudit(t, s, storage.AuditFilter{})
	if len(rows) != 8*5*3 {
		t.Fatalf("%d rows, want %d", len(rows), 8*5*3)
	}
	prev := ""
	for i, r := range rows {
		if r.Seq != int64(i)+1 {
			t.Fatalf("row %d has seq %d", i, r.Seq)
		}
		if !strings.HasPrefix(r.Record, fmt.Sprintf(`{"prev":%q,`, prev)) {
			t.Fatalf("row %d does not follow %q: %s", r.Seq, prev, r.Record)
		}
		prev = r.Hash
	}
	h, err := stores[1].AuditHead(context.Background())
	must(t, err)
	diff(t, storage.AuditHead{Seq: int64(len(rows)), Hash: prev}, h)
}

// keyedRows returns rows after head, one per key ("" for none), linked as
// auditRows links them.
func keyedRows(head storage.AuditHead, tag string, keys ...string) []storage.AuditRow {
	rows := auditRows(head, len(keys), tag)
	for i, k := range keys {
		rows[i].Key = k
	}
	return rows
}

// appendIfAbsent appends one row per key that no row holds yet, as the
// audit log does, and returns what it appended.
func appendIfAbsent(t *testing.T, s storage.AuditStore, tag string, keys ...string) []storage.AuditRow {
	t.Helper()
	var out []storage.AuditRow
	must(t, s.AppendAudit(context.Background(), keys, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		var free []string
		for _, k := range keys {
			if !taken[k] {
				free = append(free, k)
			}
		}
		out = keyedRows(h, tag, free...)
		return out, nil
	}))
	return out
}

// testAuditKeys: chain is told which of the keys rows hold; rows without
// a key are never taken; keys are read back.
func testAuditKeys(t *testing.T, s storage.AuditStore, again func() storage.AuditStore) {
	ctx := context.Background()
	first := appendAudit(t, s, 1, "plain")
	var asked map[string]bool
	must(t, s.AppendAudit(ctx, []string{"k1", "k2"}, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		asked = taken
		return keyedRows(h, "a", "k1", "", "k2", ""), nil
	}))
	if len(asked) != 0 {
		t.Fatalf("taken = %v before any row held a key", asked)
	}
	must(t, s.AppendAudit(ctx, []string{"k2", "k3", "k1", ""}, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		asked = taken
		return keyedRows(h, "b", "k3"), nil
	}))
	diff(t, map[string]bool{"k1": true, "k2": true}, asked)
	rows := allAudit(t, s, storage.AuditFilter{})
	if len(rows) != 6 {
		t.Fatalf("%d rows, want 6", len(rows))
	}
	diff(t, first[0], rows[0])
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.Key)
	}
	diff(t, []string{"", "k1", "", "k2", "", "k3"}, keys)
	r, err := again().AuditRow(ctx, 6)
	must(t, err)
	diff(t, rows[5], r)
	// Without keys to ask about, chain is told none are taken.
	must(t, s.AppendAudit(ctx, nil, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
		asked = taken
		return nil, nil
	}))
	if len(asked) != 0 {
		t.Fatalf("taken = %v when no key was asked about", asked)
	}
}

// testAuditKeyTaken: a row whose key a row already holds fails the whole
// append (chain ignored what it was told), and nothing of it is written.
func testAuditKeyTaken(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	ctx := context.Background()
	appendIfAbsent(t, s, "a", "k1")
	err := s.AppendAudit(ctx, nil, func(h storage.AuditHead, _ map[string]bool) ([]storage.AuditRow, error) {
		return keyedRows(h, "b", "", "k1"), nil
	})
	if err == nil {
		t.Fatal("a second row with key k1 was written")
	}
	// Twice in one append.
	err = s.AppendAudit(ctx, nil, func(h storage.AuditHead, _ map[string]bool) ([]storage.AuditRow, error) {
		return keyedRows(h, "c", "k2", "k2"), nil
	})
	if err == nil {
		t.Fatal("two rows with key k2 were written")
	}
	h, err := s.AuditHead(ctx)
	must(t, err)
	diff(t, storage.AuditHead{Seq: 1, Hash: "h-a-1"}, h)
	if n := len(allAudit(t, s, storage.AuditFilter{})); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

// testAuditManyKeys asks about more keys than one statement binds.
func testAuditManyKeys(t *testing.T, s storage.AuditStore, _ func() storage.AuditStore) {
	keys := make([]string, 700)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	if n := len(appendIfAbsent(t, s, "a", keys[:400]...)); n != 400 {
		t.Fatalf("appended %d, want 400", n)
	}
	if n := len(appendIfAbsent(t, s, "b", keys...)); n != 300 {
		t.Fatalf("appended %d, want the 300 keys not yet held", n)
	}
	if n := len(allAudit(t, s, storage.AuditFilter{})); n != 700 {
		t.Fatalf("%d rows, want 700", n)
	}
}

// testAuditReplicasKeys: replicas appending the same keys at once, as two
// replicas recording one answer do: each key is written once, the chain
// stays one.
func testAuditReplicasKeys(t *testing.T, s storage.AuditStore, again func() storage.AuditStore) {
	stores := []storage.AuditStore{s, again()}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			st := stores[i%2]
			for j := range 10 {
				keys := []string{fmt.Sprintf("k%d", j), fmt.Sprintf("k%d", j+1), ""}
				err := st.AppendAudit(context.Background(), keys, func(h storage.AuditHead, taken map[string]bool) ([]storage.AuditRow, error) {
					var free []string
					for _, k := range keys {
						if k == "" || !taken[k] {
							free = append(free, k)
						}
					}
					return keyedRows(h, fmt.Sprintf("%d.%d", i, j), free...), nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rows := allAudit(t, s, storage.AuditFilter{})
	seen := map[string]bool{}
	plain := 0
	prev := ""
	for i, r := range rows {
		if r.Seq != int64(i)+1 || !strings.HasPrefix(r.Record, fmt.Sprintf(`{"prev":%q,`, prev)) {
			t.Fatalf("row %d (seq %d) breaks the chain", i, r.Seq)
		}
		prev = r.Hash
		if r.Key == "" {
			plain++
			continue
		}
		if seen[r.Key] {
			t.Fatalf("key %s written twice", r.Key)
		}
		seen[r.Key] = true
	}
	if len(seen) != 11 || plain != 60 {
		t.Fatalf("%d keys and %d rows without one, want 11 and 60", len(seen), plain)
	}
}
