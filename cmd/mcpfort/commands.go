package main

import (
	"context"
	"io"
)

// extraCommand dispatches the administrative commands that live in their
// own files. ok is false for an unknown command.
func extraCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	switch args[0] {
	case "users":
		return usersCommand(context.Background(), args[1:], stdout, stderr), true
	case "tools":
		return toolsCommand(context.Background(), args[1:], stdout, stderr), true
	case "audit":
		return auditCommand(context.Background(), args[1:], stdout, stderr), true
	case "vault":
		return vaultCommand(context.Background(), args[1:], stdout, stderr), true
	}
	return 0, false
}
