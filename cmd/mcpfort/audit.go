package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mcpfort/mcpfort/gateway/policy/audit"
	"github.com/mcpfort/mcpfort/gateway/policy/audit/auditcmd"
)

// auditKeyFile is the chain key's file name in the state directory; when
// it exists, the audit log keys its chain with it and verify uses it.
const auditKeyFile = "audit.key"

// auditCommand implements "mcpfort audit verify|export|head" against the
// audit store named by --config FILE (its state.database and state.dir) or
// --db DATABASE ("sqlite:PATH" or a postgres:// URL).
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
	store, err := audit.OpenStore(ctx, database, dir, audit.StoreOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort audit: open audit store: %v\n", err)
		return 1
	}
	defer store.Close()
	var opts auditcmd.Options
	if cfg != nil {
		opts.KeyFile = filepath.Join(dir, auditKeyFile)
	}
	return auditcmd.Run(ctx, store, rest, stdout, stderr, opts)
}
