package main

import "io"

// extraCommand dispatches the administrative commands that live in their
// own files. ok is false for an unknown command.
func extraCommand(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	return 0, false
}
