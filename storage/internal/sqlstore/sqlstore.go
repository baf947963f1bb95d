package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// Dialect is what differs between SQL engines.
type Dialect struct {
	// Name names the engine in error messages.
	Name string
	// ForUpdate is appended to SELECTs that read a row a transaction will
	// then update (" FOR UPDATE" on PostgreSQL; empty on SQLite, whose
	// write transactions already hold the database lock).
	ForUpdate string
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(error) bool
	// MultiRowInsert: write many rows with one statement (a round trip
	// costs more than parsing one, as on PostgreSQL) rather than one
	// prepared statement per row (SQLite, in-process).
	MultiRowInsert bool
	// MigrationLock is run first in the migration transaction to serialize
	// concurrent migrators; empty if the transaction itself is exclusive.
	MigrationLock string
	// InProcess: the engine runs in this process (SQLite), so a statement
	// takes microseconds and never waits on a network. The statements of
	// an audit append are then not given the caller's cancellation, which
	// the driver would watch with a goroutine per statement; the
	// transaction still watches it, and ends between two statements.
	InProcess bool
}

// Store implements storage.Store. Reads go to read, writes to write; the
// two may be the same pool (PostgreSQL) or a pool of readers and a single
// writer connection (SQLite, where one writer avoids lock contention and
// busy-wait sleeps).
type Store struct {
	read, write *sql.DB
	d           Dialect
	closers     []func() error
	cache       stmtCache
}

var _ storage.Backend = (*Store)(nil)

// New returns a Store over the given pools. Close closes each distinct pool.
func New(read, write *sql.DB, d Dialect) *Store {
	s := &Store{read: read, write: write, d: d}
	s.closers = append(s.closers, write.Close)
	if read != write {
		s.closers = append(s.closers, read.Close)
	}
	return s
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", s.d.Name, err)
	}
	return nil
}

// Close implements storage.Store.
func (s *Store) Close() error {
	s.closeStmts()
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// tx runs fn in a write transaction, committing if fn returns nil or an
// error for which keep reports true (so that "revoke then report reuse"
// is persisted).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error, keep func(error) bool) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("begin", err)
	}
	defer s.preparePending(context.WithoutCancel(ctx))
	err = fn(tx)
	if err != nil && (keep == nil || !keep(err)) {
		_ = tx.Rollback()
		return err
	}
	if cerr := tx.Commit(); cerr != nil {
		return s.wrap("commit", cerr)
	}
	return err
}

func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case s.d.IsUniqueViolation != nil && s.d.IsUniqueViolation(err):
		return fmt.Errorf("%s: %s: %w", s.d.Name, op, storage.ErrConflict)
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
}

func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ms encodes a time as Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// tm decodes ms.
func tm(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func jlist(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func plist(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("decode list column: %w", err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// nullable maps "" to SQL NULL, for unique columns that are optional.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes maps an empty slice to SQL NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

type scanner interface{ Scan(dest ...any) error }
