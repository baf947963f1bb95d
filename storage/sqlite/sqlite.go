package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"

	"github.com/mcpfort/mcpfort/internal/statefile"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/internal/sqlstore"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// Options configures Open.
type Options struct {
	// Path is the database file. It is created if missing, with mode 0600
	// (its directory 0700); an existing database, -wal or -shm file that
	// the group or others may read is set to 0600. Required.
	Path string
	// Readers is the number of concurrent read connections. If zero, 4.
	// Writes always go through one connection: SQLite allows one writer at
	// a time, and queueing in Go is cheaper than SQLite's busy-wait.
	Readers int
}

// Open opens (creating if needed) and migrates the database at opts.Path.
// The database runs in WAL mode with synchronous=NORMAL: a committed write
// survives a process crash; an operating-system crash may lose the last
// transactions but never corrupts the file.
func Open(ctx context.Context, opts Options) (storage.Backend, error) {
	if opts.Path == "" {
		return nil, errors.New("sqlite: Path is required")
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if err := statefile.PrepareSQLite(opts.Path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		// Memory-map the file: random lookups in a large store (a million
		// registrations) then read shared OS pages instead of copying
		// them through SQLite's small per-connection cache.
		q.Add("_pragma", "mmap_size(1073741824)")
		q.Add("_pragma", "cache_size(-16384)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + (&url.URL{Path: opts.Path}).EscapedPath() + "?" + q.Encode()
	}
	// Transactions on the writer take the write lock at BEGIN, so a
	// read-then-write transaction cannot fail halfway with SQLITE_BUSY.
	write, err := sql.Open("sqlite", dsn("_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := sqlstore.MigrateAll(ctx, write, dialect(), migrations); err != nil {
		_ = write.Close()
		return nil, err
	}
	read, err := sql.Open("sqlite", dsn("_pragma", "query_only(ON)"))
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	read.SetMaxOpenConns(opts.Readers)
	read.SetMaxIdleConns(opts.Readers)
	read.SetConnMaxLifetime(0)
	s := sqlstore.New(read, write, dialect())
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:      "sqlite",
		InProcess: true,
		IsUniqueViolation: func(err error) bool {
			var se *sqlite.Error
			if !errors.As(err, &se) {
				return false
			}
			c := se.Code()
			return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		},
	}
}
