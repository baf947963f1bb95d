package audit

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/gateway/policy/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// Key, if set, keys the chain: record hashes are HMAC-SHA256 under it,
	// so that someone who can write the database but not read the key
	// cannot forge a consistent chain after an edit. Verification needs the
	// same key. Keep it outside the database (a file in the state
	// directory, a secret manager). At least 32 bytes.
	Key []byte
}

// Store is the audit log in SQLite or PostgreSQL. It is safe for
// concurrent use, and several replicas may append to one PostgreSQL store.
type Store struct {
	db  *sqldb.DB
	key []byte
	// SQLite statements prepared once: parsing SQL per batch cost as much
	// as writing the rows.
	head, insertOne, moveHead *sql.Stmt
}

// OpenStore opens (creating and migrating) the audit store in database:
// "sqlite" (the file mcpfort.db in dir, shared with the rest of mcpfort),
// "sqlite:PATH", or a "postgres://" URL.
func OpenStore(ctx context.Context, database, dir string, opts StoreOptions) (*Store, error) {
	if len(opts.Key) > 0 && len(opts.Key) < 32 {
		return nil, errors.New("audit: the chain key must hold at least 32 bytes")
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	db, err := sqldb.Open(ctx, sqldb.Options{Database: database, Dir: dir, Name: "audit", Migrations: sub})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	st := &Store{db: db, key: opts.Key}
	if db.Dialect == sqldb.SQLite {
		for _, p := range []struct {
			stmt **sql.Stmt
			q    string
		}{
			{&st.head, `SELECT seq, hash FROM audit_head WHERE id = 1`},
			{&st.insertOne, `INSERT INTO audit_records (seq, time_us, record, hash) VALUES (?,?,?,?)`},
			{&st.moveHead, `UPDATE audit_head SET seq = ?, hash = ?, updated_us = ? WHERE id = 1`},
		} {
			if *p.stmt, err = db.PrepareContext(ctx, p.q); err != nil {
				st.Close()
				return nil, fmt.Errorf("audit: %w", err)
			}
		}
	}
	return st, nil
}

// Close releases the store.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.head, s.insertOne, s.moveHead} {
		if st != nil {
			st.Close()
		}
	}
	return s.db.Close()
}

// rowsPerInsert keeps a multi-row INSERT well under both engines'
// parameter limits.
const rowsPerInsert = 128

// Append chains and writes recs in one transaction, after the current
// head, and moves the head to the last of them. It fills in each record's
// Seq, PrevHash and Hash.
func (s *Store) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	q := `SELECT seq, hash FROM audit_head WHERE id = 1`
	if s.db.Dialect == sqldb.Postgres {
		// Replicas append one after another: the head row is the lock.
		// (SQLite transactions here take the database write lock at BEGIN.)
		q += ` FOR UPDATE`
	}
	var seq int64
	var prev string
	var head *sql.Row
	if s.head != nil {
		head = tx.StmtContext(ctx, s.head).QueryRowContext(ctx)
	} else {
		head = tx.QueryRowContext(ctx, q)
	}
	if err := head.Scan(&seq, &prev); err != nil {
		return fmt.Errorf("audit: read chain head: %w", err)
	}
	rows := make([]row, len(recs))
	h := newHasher(s.key)
	for i := range recs {
		r := &recs[i]
		r.sanitize()
		seq++
		r.Seq, r.PrevHash = seq, prev
		canon := appendCanonical(make([]byte, 0, 512+len(r.Arguments)+len(r.Result)), r)
		r.Hash = h.sum(canon)
		rows[i] = row{seq: r.Seq, timeUS: r.Time.UnixMicro(), record: string(canon), hash: r.Hash}
		prev = r.Hash
	}
	if err := s.insert(ctx, tx, rows); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	if s.moveHead != nil {
		_, err = tx.StmtContext(ctx, s.moveHead).ExecContext(ctx, seq, prev, time.Now().UnixMicro())
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2, updated_us = $3 WHERE id = 1`,
			seq, prev, time.Now().UnixMicro())
	}
	if err != nil {
		return fmt.Errorf("audit: move chain head: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: append: %w", err)
	}
	return nil
}

// row is one stored record.
type row struct {
	seq, timeUS  int64
	record, hash string
}

// insert writes rows in multi-row statements: "?" placeholders for SQLite
// (whose parser looks numbered ones up in quadratic time), "$n" for
// PostgreSQL.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, rows []row) error {
	if s.insertOne != nil {
		// SQLite runs in-process: one prepared statement per row costs no
		// round trip and no parsing.
		st := tx.StmtContext(ctx, s.insertOne)
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r.seq, r.timeUS, r.record, r.hash); err != nil {
				return err
			}
		}
		return nil
	}
	for start := 0; start < len(rows); start += rowsPerInsert {
		batch := rows[start:min(start+rowsPerInsert, len(rows))]
		var sb strings.Builder
		sb.Grow(64 + 24*len(batch))
		sb.WriteString(`INSERT INTO audit_records (seq, time_us, record, hash) VALUES `)
		args := make([]any, 0, 4*len(batch))
		for i, r := range batch {
			if i > 0 {
				sb.WriteByte(',')
			}
			if s.db.Dialect == sqldb.SQLite {
				sb.WriteString("(?,?,?,?)")
			} else {
				n := 4 * i
				fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d)", n+1, n+2, n+3, n+4)
			}
			args = append(args, r.seq, r.timeUS, r.record, r.hash)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// Head is the chain head: the sequence number and hash of the last record
// appended (0 and "" for an empty log).
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Head reads the chain head.
func (s *Store) Head(ctx context.Context) (Head, error) {
	var h Head
	if err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash); err != nil {
		return h, fmt.Errorf("audit: read chain head: %w", err)
	}
	return h, nil
}

// CheckKey checks, before the log appends under key, that the chain's
// last record is not keyed with another key (or keyed while key is nil):
// replicas sharing a database must share the chain key, and a lost key
// must not be silently replaced, or the chain could no longer be
// verified. It returns the chain head.
func (s *Store) CheckKey(ctx context.Context, key []byte) (Head, error) {
	h, err := s.Head(ctx)
	if err != nil || h.Seq == 0 {
		return h, err
	}
	var record, hash string
	err = s.db.QueryRowContext(ctx, `SELECT record, hash FROM audit_records WHERE seq = $1`, h.Seq).Scan(&record, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return h, nil // Verify reports the missing tail
	case err != nil:
		return h, fmt.Errorf("audit: read last record: %w", err)
	case !strings.HasPrefix(hash, prefixHMAC):
		return h, nil
	case len(key) == 0:
		return h, fmt.Errorf("audit: the chain is keyed (record %d), but no chain key was given", h.Seq)
	case !hmac.Equal([]byte(hashBytes([]byte(record), key)), []byte(hash)):
		return h, fmt.Errorf("audit: the chain's last record (%d) is not keyed with this chain key: every replica sharing the database must use the same key", h.Seq)
	}
	return h, nil
}

// Filter selects records.
type Filter struct {
	// Since and Until bound the record time (zero: unbounded); Until is
	// exclusive.
	Since, Until time.Time
	// FromSeq starts at this sequence number (zero: the first).
	FromSeq int64
}

// Records calls fn with every record that f selects, in chain order.
func (s *Store) Records(ctx context.Context, f Filter, fn func(*Record) error) error {
	return s.rows(ctx, f, func(rw row) error {
		r, err := fromCanonical([]byte(rw.record))
		if err != nil {
			return fmt.Errorf("audit: record %d is not readable: %w", rw.seq, err)
		}
		r.Hash = rw.hash
		return fn(&r)
	})
}

// rows calls fn with every stored row that f selects, in seq order.
func (s *Store) rows(ctx context.Context, f Filter, fn func(row) error) error {
	q := `SELECT seq, time_us, record, hash FROM audit_records WHERE seq >= $1`
	args := []any{f.FromSeq}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UnixMicro())
		q += fmt.Sprintf(` AND time_us >= $%d`, len(args))
	}
	if !f.Until.IsZero() {
		args = append(args, f.Until.UnixMicro())
		q += fmt.Sprintf(` AND time_us < $%d`, len(args))
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("audit: read records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rw row
		if err := rows.Scan(&rw.seq, &rw.timeUS, &rw.record, &rw.hash); err != nil {
			return fmt.Errorf("audit: read records: %w", err)
		}
		if err := fn(rw); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: read records: %w", err)
	}
	return nil
}
