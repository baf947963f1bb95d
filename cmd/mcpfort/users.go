package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mcpfort/mcpfort/authserver/users"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/storage/backend"
)

// usersCommand implements "mcpfort users add|passwd|list|disable|enable"
// against the store named by --config FILE (its state.database and
// state.dir) or --db DATABASE ("sqlite:PATH", a SQLite file path, or a
// postgres:// URL). Passwords are read from standard input.
func usersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, users.Usage) }
	cfgPath := fs.String("config", "", "configuration file naming the database")
	db := fs.String("db", "", `database: "sqlite:PATH", a SQLite file, or a postgres:// URL`)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var database, dir string
	switch {
	case *cfgPath != "" && *db != "":
		fmt.Fprintln(stderr, "mcpfort users: give --config or --db, not both")
		return 2
	case *cfgPath != "":
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "mcpfort users: %v\n", err)
			return 1
		}
		database, dir = cfg.State.Database, cfg.State.Dir
	case *db != "":
		database, dir = *db, "."
	default:
		fmt.Fprint(stderr, "mcpfort users: --config FILE or --db DATABASE is required\n\n"+users.Usage)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, users.Usage)
		return 2
	}
	store, err := backend.Open(ctx, database, dir)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort users: open database: %v\n", err)
		return 1
	}
	defer store.Close()
	return users.Run(ctx, store, fs.Args(), os.Stdin, stdout, stderr)
}
