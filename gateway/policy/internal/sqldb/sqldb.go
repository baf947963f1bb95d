package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/mcpfort/mcpfort/internal/statefile"
)

// Dialect is the SQL engine behind a DB.
type Dialect uint8

// Dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// DefaultSQLiteFile is the embedded database's file name in the state
// directory (the same file the authorization server's store uses).
const DefaultSQLiteFile = "mcpfort.db"

// DB is an open database and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// Options configures Open.
type Options struct {
	// Database names the database: "sqlite" (the file DefaultSQLiteFile in
	// Dir), "sqlite:PATH" or "file:PATH" (a SQLite file, relative to Dir),
	// a "postgres://" or "postgresql://" URL, or else a SQLite file path.
	Database string
	// Dir is the state directory relative SQLite paths are resolved in.
	Dir string
	// Name names the owner of the migrations, such as "audit"; its
	// versions are kept in the table mcpfort_<Name>_migrations.
	Name string
	// Migrations holds the owner's migrations as sqlite/NNNN_name.sql and
	// postgres/NNNN_name.sql.
	Migrations fs.FS
	// MaxConns bounds the connection pool. If zero, 4 for SQLite and 8 for
	// PostgreSQL.
	MaxConns int
}

// Open opens and migrates the database.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Database == "" {
		return nil, errors.New("sqldb: database is empty")
	}
	if opts.Name == "" || opts.Migrations == nil {
		return nil, errors.New("sqldb: Name and Migrations are required")
	}
	var db *DB
	switch d := opts.Database; {
	case strings.HasPrefix(d, "postgres://"), strings.HasPrefix(d, "postgresql://"):
		cfg, err := pgx.ParseConfig(d)
		if err != nil {
			// The parse error may quote the URL, password included.
			return nil, errors.New("sqldb: invalid PostgreSQL URL")
		}
		db = &DB{DB: stdlib.OpenDB(*cfg), Dialect: Postgres}
		n := opts.MaxConns
		if n <= 0 {
			n = 8
		}
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
	default:
		p := filepath.Join(opts.Dir, DefaultSQLiteFile)
		if d != "sqlite" {
			p = strings.TrimPrefix(strings.TrimPrefix(d, "sqlite:"), "file:")
			if !filepath.IsAbs(p) && opts.Dir != "" {
				p = filepath.Join(opts.Dir, p)
			}
		}
		if err := statefile.PrepareSQLite(p); err != nil {
			return nil, fmt.Errorf("sqldb: %w", err)
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		// A transaction takes the write lock at BEGIN, so a read-then-write
		// transaction (the audit chain head) never fails halfway with
		// SQLITE_BUSY.
		q.Add("_txlock", "immediate")
		sqldb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: p}).EscapedPath()+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqldb: open: %w", err)
		}
		db = &DB{DB: sqldb, Dialect: SQLite}
		n := opts.MaxConns
		if n <= 0 {
			n = 4
		}
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxLifetime(0)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqldb: %s: %w", db.Dialect, err)
	}
	if err := migrate(ctx, db, opts.Name, opts.Migrations); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// migrate applies, in one transaction, the migrations newer than the
// recorded version. On PostgreSQL a transaction-level advisory lock keyed
// by the owner's name makes replicas starting together apply them once.
func migrate(ctx context.Context, db *DB, name string, fsys fs.FS) error {
	dir := db.Dialect.String()
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("sqldb: read migrations: %w", err)
	}
	type migration struct {
		version int
		file    string
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("sqldb: migration %q: name must be NNNN_description.sql", e.Name())
		}
		ms = append(ms, migration{v, e.Name()})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	table := "mcpfort_" + name + "_migrations"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqldb: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if db.Dialect == Postgres {
		h := fnv.New64a()
		h.Write([]byte(table))
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64()>>1)); err != nil {
			return fmt.Errorf("sqldb: migration lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("sqldb: create %s: %w", table, err)
	}
	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM `+table).Scan(&current); err != nil {
		return fmt.Errorf("sqldb: read schema version: %w", err)
	}
	if len(ms) > 0 && int(current.Int64) > ms[len(ms)-1].version {
		return fmt.Errorf("sqldb: %s schema version %d is newer than this binary's %d", name, current.Int64, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if m.version <= int(current.Int64) {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, m.file))
		if err != nil {
			return fmt.Errorf("sqldb: read migration %s: %w", m.file, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("sqldb: apply %s migration %s: %w", name, m.file, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.file, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("sqldb: record migration %s: %w", m.file, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit migrations: %w", err)
	}
	return nil
}
