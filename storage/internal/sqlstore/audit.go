package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// auditRowsPerInsert keeps a multi-row INSERT well under PostgreSQL's
// parameter limit.
const auditRowsPerInsert = 128

// AppendAudit implements storage.AuditStore. On PostgreSQL the head row is
// read FOR UPDATE: it is the lock that makes replicas append one after
// another (SQLite transactions take the database write lock at BEGIN).
func (s *Store) AppendAudit(ctx context.Context, keys []string, chain func(storage.AuditHead, map[string]bool) ([]storage.AuditRow, error)) error {
	var chainErr error
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ctx := ctx
		if s.d.InProcess {
			ctx = context.WithoutCancel(ctx)
		}
		var h storage.AuditHead
		if err := s.txQueryRow(ctx, tx, `SELECT seq, hash FROM audit_head WHERE id = 1`+s.d.ForUpdate).Scan(&h.Seq, &h.Hash); err != nil {
			return s.wrap("read audit head", err)
		}
		// Read under the head's lock: no other append can take a key
		// before this transaction ends.
		taken, err := s.takenAuditKeys(ctx, tx, keys)
		if err != nil {
			return s.wrap("read audit keys", err)
		}
		rows, err := chain(h, taken)
		if err != nil {
			chainErr = err
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		for i, r := range rows {
			if r.Seq != h.Seq+int64(i)+1 {
				return fmt.Errorf("%s: audit row %d does not follow %d", s.d.Name, r.Seq, h.Seq+int64(i))
			}
		}
		if err := s.insertAudit(ctx, tx, rows); err != nil {
			return s.wrap("append audit", err)
		}
		last := rows[len(rows)-1]
		_, err = s.txExec(ctx, tx, `UPDATE audit_head SET seq = $1, hash = $2, updated_us = $3 WHERE id = 1`,
			last.Seq, last.Hash, time.Now().UnixMicro())
		return s.wrap("move audit head", err)
	}, nil)
	if chainErr != nil {
		return chainErr
	}
	return err
}

// takenAuditKeys returns which of keys rows already hold (nil when none
// do or none are asked about), through the answer-key index, with
// statements prepared once: on PostgreSQL one query with the keys as an
// array; on SQLite one indexed lookup per key for one or two keys, and
// from auditKeysPerLookup keys on one query with the keys as a JSON array
// (json_each), which costs more to start but less than half as much per
// key.
func (s *Store) takenAuditKeys(ctx context.Context, tx *sql.Tx, keys []string) (map[string]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var taken map[string]bool
	if !s.d.MultiRowInsert && len(keys) < auditKeysPerLookup {
		const one = `SELECT 1 FROM audit_records WHERE answer_key = ?`
		lookup := func(k string) *sql.Row { return tx.QueryRowContext(ctx, one, k) }
		if st := s.txStmt(one); st != nil {
			ts := tx.StmtContext(ctx, st)
			defer ts.Close()
			lookup = func(k string) *sql.Row { return ts.QueryRowContext(ctx, k) }
		}
		for _, k := range keys {
			var x int
			switch err := lookup(k).Scan(&x); {
			case errors.Is(err, sql.ErrNoRows):
				continue
			case err != nil:
				return nil, err
			}
			if taken == nil {
				taken = map[string]bool{}
			}
			taken[k] = true
		}
		return taken, nil
	}
	q, arg := `SELECT answer_key FROM audit_records WHERE answer_key = ANY($1)`, any(keys)
	if !s.d.MultiRowInsert {
		q = auditKeysSQLite
		list, err := json.Marshal(keys)
		if err != nil {
			return nil, err
		}
		arg = string(list)
	}
	rows, err := s.txQuery(ctx, tx, q, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		if taken == nil {
			taken = map[string]bool{}
		}
		taken[k] = true
	}
	return taken, rows.Err()
}

// auditKeysPerLookup is how many keys an append must look up for SQLite
// to take them in one query.
const auditKeysPerLookup = 3

// auditKeysSQLite selects which keys of a JSON array rows hold. "IS NOT
// NULL" lets the planner use the partial index (TestAuditKeyIndexMigration
// checks the plan).
const auditKeysSQLite = `SELECT answer_key FROM audit_records WHERE answer_key IS NOT NULL AND answer_key IN (SELECT value FROM json_each(?))`

// auditRowsPerStatement is the most rows an in-process engine's prepared
// multi-row INSERT writes.
const auditRowsPerStatement = 16

// insertRows[i] writes 1<<i audit rows, up to auditRowsPerStatement: a
// batch goes through at most one statement of each size (28 rows: 16, 8
// and 4), rather than one statement per row past a multiple of 16.
var insertRows = func() []string {
	var qs []string
	for n := 1; n <= auditRowsPerStatement; n *= 2 {
		qs = append(qs, `INSERT INTO audit_records (seq, time_us, record, hash, answer_key) VALUES (?, ?, ?, ?, ?)`+
			strings.Repeat(`, (?, ?, ?, ?, ?)`, n-1))
	}
	return qs
}()

// nullKey stores an empty key as NULL, which the unique index lets any
// number of rows hold.
func nullKey(k string) any {
	if k == "" {
		return nil
	}
	return k
}

// insertAudit writes rows: through a few prepared statements of fixed
// sizes where a statement costs no round trip (SQLite runs in-process),
// through multi-row statements built for the batch otherwise.
func (s *Store) insertAudit(ctx context.Context, tx *sql.Tx, rows []storage.AuditRow) error {
	if !s.d.MultiRowInsert {
		// Rows go through prepared statements of 16, 8, 4, 2 and 1
		// rows, the largest that fits first: a statement's execution
		// costs more than binding a row's values. "?": SQLite binds
		// anonymous parameters without the name lookups numbered ones
		// cost.
		args := make([]any, 0, 5*auditRowsPerStatement)
		for len(rows) > 0 {
			i := min(bits.Len(uint(len(rows))), len(insertRows)) - 1
			q, n := insertRows[i], 1<<i
			args = args[:0]
			for _, r := range rows[:n] {
				args = append(args, r.Seq, r.TimeUS, r.Record, r.Hash, nullKey(r.Key))
			}
			var err error
			if st := s.txStmt(q); st != nil {
				ts := tx.StmtContext(ctx, st)
				_, err = ts.ExecContext(ctx, args...)
				ts.Close()
			} else {
				_, err = tx.ExecContext(ctx, q, args...)
			}
			if err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	}
	for start := 0; start < len(rows); start += auditRowsPerInsert {
		batch := rows[start:min(start+auditRowsPerInsert, len(rows))]
		var sb strings.Builder
		sb.Grow(80 + 30*len(batch))
		sb.WriteString(`INSERT INTO audit_records (seq, time_us, record, hash, answer_key) VALUES `)
		args := make([]any, 0, 5*len(batch))
		for i, r := range batch {
			if i > 0 {
				sb.WriteByte(',')
			}
			n := 5 * i
			fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4, n+5)
			args = append(args, r.Seq, r.TimeUS, r.Record, r.Hash, nullKey(r.Key))
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// AuditHead implements storage.AuditStore.
func (s *Store) AuditHead(ctx context.Context) (storage.AuditHead, error) {
	var h storage.AuditHead
	err := s.queryRow(ctx, s.read, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	return h, s.wrap("read audit head", err)
}

// AuditRow implements storage.AuditStore.
func (s *Store) AuditRow(ctx context.Context, seq int64) (storage.AuditRow, error) {
	r := storage.AuditRow{Seq: seq}
	err := s.queryRow(ctx, s.read, `SELECT time_us, record, hash, COALESCE(answer_key, '') FROM audit_records WHERE seq = $1`, seq).Scan(&r.TimeUS, &r.Record, &r.Hash, &r.Key)
	return r, s.wrap("read audit row", err)
}

// AuditRows implements storage.AuditStore.
func (s *Store) AuditRows(ctx context.Context, f storage.AuditFilter, fn func(storage.AuditRow) error) error {
	q := `SELECT seq, time_us, record, hash, COALESCE(answer_key, '') FROM audit_records WHERE seq >= $1`
	args := []any{f.FromSeq}
	if f.SinceUS != 0 {
		args = append(args, f.SinceUS)
		q += fmt.Sprintf(` AND time_us >= $%d`, len(args))
	}
	if f.UntilUS != 0 {
		args = append(args, f.UntilUS)
		q += fmt.Sprintf(` AND time_us < $%d`, len(args))
	}
	rows, err := s.read.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return s.wrap("read audit rows", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r storage.AuditRow
		if err := rows.Scan(&r.Seq, &r.TimeUS, &r.Record, &r.Hash, &r.Key); err != nil {
			return s.wrap("read audit rows", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return s.wrap("read audit rows", rows.Err())
}
