package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/mcpfort/mcpfort/internal/statefile"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/backend"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

// stateFiles are the files mcpfort itself creates in the state directory.
var stateFiles = []string{"session.key", "authserver.kek", "audit.key", "assertion.key"}

// prepareState makes the state directory owner-only before anything is
// written there: created with mode 0700 if missing; an existing one open
// to the group or others is reported (it may be the configuration's
// directory, shared with other files, so it is not changed). Keys and the
// embedded database found open to others are set to 0600, and each such
// change is logged.
func (a *App) prepareState() error {
	dir := a.cfg.State.Dir
	loose, err := statefile.CheckDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := statefile.MkdirAll(dir); err != nil {
			return err
		}
	case err != nil:
		return err
	case loose:
		a.log.Warn("the state directory is open to the group or others; it holds keys and the database: chmod 700 it", "dir", dir)
	}
	files := append([]string(nil), stateFiles...)
	if a.cfg.State.Database == "sqlite" {
		files = append(files, statefile.SQLiteFiles(backend.DefaultSQLiteFile)...)
	}
	for _, name := range files {
		p := filepath.Join(dir, name)
		tightened, err := statefile.Tighten(p)
		if err != nil {
			return err
		}
		if tightened {
			a.log.Warn("a state file was open to the group or others; its mode is now 0600", "file", p)
		}
	}
	return nil
}

// The process keeps its state in one database (state.database: the
// authorization server's data, the audit log, the tool pins) and, with
// replicas, one Redis (state.redis: the session denylist, the revocation
// feed, sign-in counters, rate-limit buckets). Each is opened once, on
// first use, and shared by every part that uses it; its closer, added
// then, runs once and after theirs (closeAll runs closers in reverse).

// database returns the state database, opening it on first use.
func (a *App) database(ctx context.Context) (storage.Backend, error) {
	if a.db != nil {
		return a.db, nil
	}
	bo := backend.Options{Database: a.cfg.State.Database, Dir: a.cfg.State.Dir}
	if ref := a.cfg.State.DatabasePassword; ref != nil {
		pw, err := a.secret(ctx, "state.database_password", *ref)
		if err != nil {
			return nil, err
		}
		bo.Password = func(context.Context) (string, error) { return pw.Value().Reveal(), nil }
	}
	db, err := backend.OpenWith(ctx, bo)
	if err != nil {
		return nil, fmt.Errorf("state.database: %w", err)
	}
	a.db = db
	a.closers = append(a.closers, func(context.Context) error { return db.Close() })
	return db, nil
}

// redis returns the Redis client, created on first use, or nil without
// state.redis.
func (a *App) redis() (*redisstate.Client, error) {
	if a.rdb != nil || a.cfg.State.Redis == "" {
		return a.rdb, nil
	}
	// Users bound their own calls (rate_limit.timeout for the rate-limit
	// buckets); the client's own bound is the widest of them.
	co := redisstate.ClientOptions{URL: a.cfg.State.Redis, Timeout: max(a.cfg.RateLimit.Timeout.D(), redisTimeout)}
	if ref := a.cfg.State.RedisPassword; ref != nil {
		pw, err := a.secret(context.Background(), "state.redis_password", *ref)
		if err != nil {
			return nil, err
		}
		co.Password = func() string { return pw.Value().Reveal() }
	}
	rdb, err := redisstate.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("state.redis: %w", err)
	}
	a.rdb = rdb
	a.closers = append(a.closers, func(context.Context) error { return rdb.Close() })
	return rdb, nil
}

// redisTimeout bounds one Redis round trip of the session denylist, the
// revocation feed and the sign-in counters.
const redisTimeout = redisstate.DefaultTimeout
