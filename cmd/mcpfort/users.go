package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/authserver/users"
	"github.com/mcpfort/mcpfort/storage"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

// usersCommand implements "mcpfort users add|passwd|list|disable|enable"
// against the store named by --config FILE (its state.database and
// state.dir) or --db DATABASE ("sqlite:PATH", a SQLite file path, or a
// postgres:// URL). Passwords are read from standard input.
func usersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := stateCommand("users", users.Usage, args, stdout, stderr)
	if t == nil {
		return code
	}
	cfg := t.cfg
	store, err := t.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort users: open database: %v\n", err)
		return 1
	}
	defer store.Close()
	var us storage.UserStore = store
	if cfg != nil && cfg.AuthServer.Enabled && cfg.State.Redis != "" {
		// "disable" reaches every running replica at once: the user's
		// access tokens are refused there, not only when they expire.
		rdb, err := app.OpenRedis(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "mcpfort users: state.redis: %v\n", err)
			return 1
		}
		defer rdb.Close()
		feed := redisstate.NewRevocationFeed(rdb, redisstate.RevocationFeedOptions{Stream: app.RevocationStream(cfg.EmbeddedIssuer())})
		lifetime := cfg.AuthServer.AccessTokenLifetime.D()
		if lifetime <= 0 {
			lifetime = 10 * time.Minute // the authorization server's default
		}
		us = users.RevokeOnDisable(store, feedRevoker{issuer: cfg.EmbeddedIssuer(), feed: feed}, lifetime)
	} else if t.args[0] == "disable" {
		fmt.Fprintln(stderr, "mcpfort users: note: without --config naming state.redis, a running server keeps accepting "+
			"the user's access tokens until they expire (authserver.access_token_lifetime); refresh tokens stop working at once")
	}
	return users.Run(ctx, us, t.args, os.Stdin, stdout, stderr)
}

// feedRevoker publishes the embedded authorization server's revocations
// on the replicas' Redis stream.
type feedRevoker struct {
	issuer string
	feed   *redisstate.RevocationFeed
}

func (f feedRevoker) Revoke(ctx context.Context, r authserver.Revocation) error {
	return f.feed.Publish(ctx, redisstate.RevocationEvent{Issuer: f.issuer, TokenID: r.TokenID, GrantID: r.GrantID,
		Subject: r.Subject, ClientID: r.ClientID, IssuedBefore: r.IssuedBefore, Until: r.Until})
}
