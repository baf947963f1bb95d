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
	t, code := stateCommand("audit", auditcmd.Usage, args, stdout, stderr)
	if t == nil {
		return code
	}
	var opts auditcmd.Options
	var err error
	if t.cfg != nil {
		// The chain key and the signed heads file, as the gateway keeps
		// them.
		if opts, err = app.AuditCommandOptions(t.cfg); err != nil {
			fmt.Fprintf(stderr, "mcpfort audit: %v\n", err)
			return 1
		}
	}
	db, err := t.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort audit: open audit store: %v\n", err)
		return 1
	}
	defer db.Close()
	store, err := audit.NewStore(db, audit.StoreOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort audit: %v\n", err)
		return 1
	}
	return auditcmd.Run(ctx, store, t.args, stdout, stderr, opts)
}
