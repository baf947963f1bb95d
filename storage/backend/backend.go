package backend

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/postgres"
	"github.com/mcpfort/mcpfort/storage/sqlite"
)

// DefaultSQLiteFile is the embedded database's file name in the state
// directory.
const DefaultSQLiteFile = "mcpfort.db"

// Open opens the store named by database:
//
//   - "sqlite": the file DefaultSQLiteFile in dir (the embedded default);
//   - "sqlite:PATH" or "file:PATH": that SQLite file (relative to dir);
//   - "postgres://..." or "postgresql://...": that PostgreSQL database;
//   - anything else is taken as a SQLite file path (relative to dir).
func Open(ctx context.Context, database, dir string) (storage.Backend, error) {
	return OpenWith(ctx, Options{Database: database, Dir: dir})
}

// Options configure OpenWith.
type Options struct {
	// Database and Dir are Open's arguments.
	Database, Dir string
	// Password, if set, is PostgreSQL's password, called for every new
	// connection (postgres.Options.Password). SQLite ignores it.
	Password func(ctx context.Context) (string, error)
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, o Options) (storage.Backend, error) {
	database, dir := o.Database, o.Dir
	switch {
	case database == "":
		return nil, errors.New("backend: database is empty")
	case strings.HasPrefix(database, "postgres://"), strings.HasPrefix(database, "postgresql://"):
		return postgres.Open(ctx, postgres.Options{DSN: database, Password: o.Password})
	case database == "sqlite":
		return sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, DefaultSQLiteFile)})
	}
	p := strings.TrimPrefix(strings.TrimPrefix(database, "sqlite:"), "file:")
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	return sqlite.Open(ctx, sqlite.Options{Path: p})
}
