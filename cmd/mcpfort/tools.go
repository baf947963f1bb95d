package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning/pincmd"
)

// toolsCommand implements "mcpfort tools list|diff|approve|revoke" against
// the pin store named by --config FILE (its state.database and state.dir)
// or --db DATABASE ("sqlite:PATH" or a postgres:// URL).
func toolsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := stateCommand("tools", pincmd.Usage, args, stdout, stderr)
	if t == nil {
		return code
	}
	db, err := t.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort tools: open pin store: %v\n", err)
		return 1
	}
	defer db.Close()
	return pincmd.Run(ctx, pinning.NewSQLStore(db), t.args, stdout, stderr)
}
