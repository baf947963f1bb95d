package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/gateway/vault"
)

const vaultUsage = `Usage: mcpfort vault COMMAND --config FILE [flags]

The token vault: users' own grants at user_oauth upstreams.

Commands:
  list   [--user SUBJECT] [--route ROUTE]   list the grants (never the tokens)
  revoke --user SUBJECT --route ROUTE       remove a user's grant and revoke it at the
                                            upstream's authorization server when it
                                            offers RFC 7009 revocation

SUBJECT is the user's subject at the gateway's issuer (or the vault's user key).
`

// vaultCommand implements "mcpfort vault list|revoke". It needs --config:
// revoking opens the key-encryption keyring and the upstreams' settings.
func vaultCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := stateCommand("vault", vaultUsage, args, stdout, stderr)
	if t == nil {
		return code
	}
	if t.cfg == nil {
		fmt.Fprint(stderr, "mcpfort vault: --config is required\n\n"+vaultUsage)
		return 2
	}
	var user, route string
	rest := t.args[1:]
	for i := 0; i < len(rest); i++ {
		if i+1 >= len(rest) {
			fmt.Fprintf(stderr, "mcpfort vault: flag %s needs a value\n\n%s", rest[i], vaultUsage)
			return 2
		}
		switch rest[i] {
		case "--user", "-user":
			user = rest[i+1]
		case "--route", "-route":
			route = rest[i+1]
		default:
			fmt.Fprintf(stderr, "mcpfort vault: unknown flag %s\n\n%s", rest[i], vaultUsage)
			return 2
		}
		i++
	}
	v, closeVault, err := app.OpenVault(ctx, t.cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort vault: %v\n", err)
		return 1
	}
	defer closeVault()
	switch t.args[0] {
	case "list":
		gs, err := v.Grants(ctx, user, route)
		if err != nil {
			fmt.Fprintf(stderr, "mcpfort vault: %v\n", err)
			return 1
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ROUTE\tSUBJECT\tISSUER\tUSER KEY\tCONNECTED\tTOKEN EXPIRES")
		for _, g := range gs {
			exp := "-"
			if !g.ExpiresAt.IsZero() {
				exp = g.ExpiresAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Route, g.Subject, g.Issuer, g.User, g.CreatedAt.UTC().Format(time.RFC3339), exp)
		}
		w.Flush()
		return 0
	case "revoke":
		if user == "" || route == "" {
			fmt.Fprint(stderr, "mcpfort vault revoke: --user and --route are required\n\n"+vaultUsage)
			return 2
		}
		gs, err := v.Grants(ctx, user, route)
		if err != nil {
			fmt.Fprintf(stderr, "mcpfort vault: %v\n", err)
			return 1
		}
		if len(gs) == 0 {
			fmt.Fprintf(stderr, "mcpfort vault: no grant of %q at route %q\n", user, route)
			return 1
		}
		for _, g := range gs {
			if err := v.RevokeGrant(ctx, g.User, g.Route); err != nil && !errors.Is(err, vault.ErrNotConnected) {
				fmt.Fprintf(stderr, "mcpfort vault: revoke %s at %s: %v\n", g.Subject, g.Route, err)
				return 1
			}
			fmt.Fprintf(stdout, "revoked the grant of %s (%s) at route %s\n", g.Subject, g.Issuer, g.Route)
		}
		return 0
	}
	fmt.Fprintf(stderr, "mcpfort vault: unknown command %q\n\n%s", t.args[0], vaultUsage)
	return 2
}
