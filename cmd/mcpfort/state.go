package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/backend"
)

// stateTarget is the state an administrative command works on, named by
// --config FILE (its state.database and state.dir) or --db DATABASE
// ("sqlite:PATH", a SQLite file, or a postgres:// URL).
type stateTarget struct {
	database, dir string
	// cfg is the configuration when --config named it, nil with --db.
	cfg *config.Config
	// args are the subcommand and its arguments.
	args []string
}

// stateCommand is the argument handling "users", "tools" and "audit"
// share: it takes --config FILE and --db DATABASE out of args, wherever
// they are (--name=value too), and answers help and usage errors itself.
// When it returns a nil target the command is over, with exit code code.
func stateCommand(name, usage string, args []string, stdout, stderr io.Writer) (t *stateTarget, code int) {
	var cfgPath, db string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		flag, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (flag != "config" && flag != "db") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "mcpfort %s: flag %s needs a value\n\n%s", name, a, usage)
				return nil, 2
			}
			i++
			val = args[i]
		}
		if flag == "config" {
			cfgPath = val
		} else {
			db = val
		}
	}
	if len(rest) > 0 && (rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help") {
		fmt.Fprint(stdout, usage)
		return nil, 0
	}
	var err error
	t = &stateTarget{args: rest}
	switch {
	case cfgPath != "" && db != "":
		err = errors.New("give --config or --db, not both")
	case cfgPath != "":
		if t.cfg, err = config.Load(cfgPath); err != nil {
			fmt.Fprintf(stderr, "mcpfort %s: %v\n", name, err)
			return nil, 1
		}
		t.database, t.dir = t.cfg.State.Database, t.cfg.State.Dir
	case db != "":
		t.database, t.dir = db, "."
	default:
		err = errors.New("--config FILE or --db DATABASE is required")
	}
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort %s: %v\n\n%s", name, err, usage)
		return nil, 2
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return nil, 2
	}
	return t, 0
}

// open opens the target's database: as the gateway does with --config
// (state.database_password included), by name with --db.
func (t *stateTarget) open(ctx context.Context) (storage.Backend, error) {
	if t.cfg != nil {
		return app.OpenDatabase(ctx, t.cfg)
	}
	return backend.Open(ctx, t.database, t.dir)
}
