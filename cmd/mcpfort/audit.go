package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/audit/auditcmd"
)

// auditCommand implements "mcpfort audit verify|export|head" against the
// audit store named by --config FILE (its state.database and state.dir,
// the chain key and the signed heads file) or --db DATABASE ("sqlite:PATH"
// or a postgres:// URL; verify then takes the heads and key by flags).
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	database, dir, cfg, rest, err := stateFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort audit: %v\n\n%s", err, auditcmd.Usage)
		return 2
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, auditcmd.Usage)
		return 2
	}
	if rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		fmt.Fprint(stdout, auditcmd.Usage)
		return 0
	}
	if database == "" {
		fmt.Fprintf(stderr, "mcpfort audit: --config FILE or --db DATABASE is required\n\n%s", auditcmd.Usage)
		return 2
	}
	var opts auditcmd.Options
	if cfg != nil {
		// The chain key and the signed heads file, as the gateway keeps
		// them.
		if opts, err = app.AuditCommandOptions(cfg); err != nil {
			fmt.Fprintf(stderr, "mcpfort audit: %v\n", err)
			return 1
		}
	}
	store, err := audit.OpenStore(ctx, database, dir, audit.StoreOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort audit: open audit store: %v\n", err)
		return 1
	}
	defer store.Close()
	return auditcmd.Run(ctx, store, rest, stdout, stderr, opts)
}
