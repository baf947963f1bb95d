package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements are cached per pool and query text: parsing SQL was
// a fifth of the CPU of a token issuance on SQLite. database/sql prepares
// a cached *sql.Stmt on each connection the first time it is used there.
type stmtCache struct {
	mu      sync.Mutex
	stmts   map[stmtKey]*sql.Stmt
	pending map[string]bool // write-pool queries first seen inside a transaction
}

type stmtKey struct {
	db *sql.DB
	q  string
}

func (s *Store) lookup(db *sql.DB, q string) *sql.Stmt {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.stmts[stmtKey{db, q}]
}

// prepared returns the cached statement for q on db, preparing it if
// needed. The cache lock is not held while preparing: with SQLite's single
// writer connection, preparing waits for any running transaction, which
// itself looks statements up.
func (s *Store) prepared(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	if st := s.lookup(db, q); st != nil {
		return st
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		// The unprepared call reports the same error to the caller.
		return nil
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	k := stmtKey{db, q}
	if prev := s.cache.stmts[k]; prev != nil {
		_ = st.Close()
		return prev
	}
	if s.cache.stmts == nil {
		s.cache.stmts = map[stmtKey]*sql.Stmt{}
	}
	s.cache.stmts[k] = st
	return st
}

// txStmt returns the write pool's cached statement for a query run inside
// a transaction. It never prepares (the transaction holds the only SQLite
// writer connection); a miss is noted and prepared after the transaction.
func (s *Store) txStmt(q string) *sql.Stmt {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	if st := s.cache.stmts[stmtKey{s.write, q}]; st != nil {
		return st
	}
	if s.cache.pending == nil {
		s.cache.pending = map[string]bool{}
	}
	s.cache.pending[q] = true
	return nil
}

// preparePending prepares the queries transactions missed.
func (s *Store) preparePending(ctx context.Context) {
	s.cache.mu.Lock()
	var qs []string
	for q := range s.cache.pending {
		qs = append(qs, q)
	}
	s.cache.pending = nil
	s.cache.mu.Unlock()
	for _, q := range qs {
		s.prepared(ctx, s.write, q)
	}
}

func (s *Store) closeStmts() {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	for _, st := range s.cache.stmts {
		_ = st.Close()
	}
	s.cache.stmts = nil
}

func (s *Store) exec(ctx context.Context, db *sql.DB, q string, args ...any) (sql.Result, error) {
	if st := s.prepared(ctx, db, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.ExecContext(ctx, q, args...)
}

func (s *Store) queryRow(ctx context.Context, db *sql.DB, q string, args ...any) *sql.Row {
	if st := s.prepared(ctx, db, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.QueryRowContext(ctx, q, args...)
}

func (s *Store) query(ctx context.Context, db *sql.DB, q string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, db, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.QueryContext(ctx, q, args...)
}

// Transactions run on the write pool; their statements are the write
// pool's prepared ones, bound to the transaction's connection.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.txStmt(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.txStmt(q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if st := s.txStmt(q); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, q, args...)
}
