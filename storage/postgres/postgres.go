package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/internal/sqlstore"
)

//go:embed migrations
var migrations embed.FS

// Options configures Open.
type Options struct {
	// DSN is a PostgreSQL connection string, URL or key=value form (for
	// example "postgres://mcpfort@db:5432/mcpfort?sslmode=verify-full").
	// A search_path parameter selects the schema. Required.
	DSN string
	// MaxConns bounds the connection pool. If zero, 16.
	MaxConns int
	// Password, if set, is called for the password of every new
	// connection (overriding one in DSN), so that a rotated password is
	// used without a restart.
	Password func(ctx context.Context) (string, error)
}

// Open connects to the database and migrates its schema.
func Open(ctx context.Context, opts Options) (storage.Backend, error) {
	if opts.DSN == "" {
		return nil, errors.New("postgres: DSN is required")
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	cfg, err := pgx.ParseConfig(opts.DSN)
	if err != nil {
		// The parse error may quote the DSN, password included.
		return nil, errors.New("postgres: invalid DSN")
	}
	var connOpts []stdlib.OptionOpenDB
	if opts.Password != nil {
		connOpts = append(connOpts, stdlib.OptionBeforeConnect(func(ctx context.Context, cc *pgx.ConnConfig) error {
			pw, err := opts.Password(ctx)
			if err != nil {
				return fmt.Errorf("postgres: password: %w", err)
			}
			cc.Password = pw
			return nil
		}))
	}
	db := stdlib.OpenDB(*cfg, connOpts...)
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	if err := sqlstore.MigrateAll(ctx, db, dialect(), migrations); err != nil {
		_ = db.Close()
		return nil, err
	}
	s := sqlstore.New(db, db, dialect())
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:           "postgres",
		ForUpdate:      " FOR UPDATE",
		MultiRowInsert: true,
		IsUniqueViolation: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe) && pe.Code == "23505"
		},
		// Any constant works; it only has to be the same in every replica.
		MigrationLock: "SELECT pg_advisory_xact_lock(7236818213)",
	}
}
