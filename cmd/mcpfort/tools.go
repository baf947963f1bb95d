package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning/pincmd"
)

// toolsCommand implements "mcpfort tools list|diff|approve|revoke" against
// the pin store named by --config FILE (its state.database and state.dir)
// or --db DATABASE ("sqlite:PATH" or a postgres:// URL).
func toolsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	database, dir, _, rest, err := stateFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort tools: %v\n\n%s", err, pincmd.Usage)
		return 2
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, pincmd.Usage)
		return 2
	}
	if rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		fmt.Fprint(stdout, pincmd.Usage)
		return 0
	}
	if database == "" {
		fmt.Fprintf(stderr, "mcpfort tools: --config FILE or --db DATABASE is required\n\n%s", pincmd.Usage)
		return 2
	}
	store, err := pinning.OpenStore(ctx, database, dir)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort tools: open pin store: %v\n", err)
		return 1
	}
	defer store.Close()
	return pincmd.Run(ctx, store, rest, stdout, stderr)
}

// stateFlags takes --config FILE and --db DATABASE out of args, wherever
// they are, and names the database and state directory they select. The
// remaining arguments are the subcommand's.
func stateFlags(args []string) (database, dir string, cfg *config.Config, rest []string, err error) {
	var cfgPath, db string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "config" && name != "db") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return "", "", nil, nil, fmt.Errorf("flag %s needs a value", a)
			}
			i++
			val = args[i]
		}
		if name == "config" {
			cfgPath = val
		} else {
			db = val
		}
	}
	switch {
	case cfgPath != "" && db != "":
		return "", "", nil, nil, errors.New("give --config or --db, not both")
	case cfgPath != "":
		cfg, err = config.Load(cfgPath)
		if err != nil {
			return "", "", nil, nil, err
		}
		return cfg.State.Database, cfg.State.Dir, cfg, rest, nil
	case db != "":
		return db, ".", nil, rest, nil
	}
	return "", "", nil, rest, nil
}
