// Package subcmd runs the subcommands of a policy's administrative
// command ("mcpfort tools", "mcpfort audit"): dispatch, flags anywhere
// among the arguments, and one mapping from errors to exit codes (0 done,
// 1 failed, 2 bad usage).
//
// It imports only the standard library.
package subcmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Func runs one subcommand with the arguments after its name.
type Func func(args []string) error

// UsageError is bad usage: the message and the usage text are printed and
// the exit code is 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// ErrReported is a failure the subcommand has already explained on its
// output: the exit code is 1 and nothing more is printed.
var ErrReported = errors.New("subcmd: failure reported")

// Run dispatches args[0] among cmds; name prefixes messages ("mcpfort
// tools") and usage is the help text.
func Run(name, usage string, cmds map[string]Func, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", name, args[0], usage)
		return 2
	}
	err := cmd(args[1:])
	var ue UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s %s: %v\n\n%s", name, args[0], err, usage)
		return 2
	case errors.Is(err, ErrReported):
		return 1
	}
	fmt.Fprintf(stderr, "%s %s: %v\n", name, args[0], err)
	return 1
}

// FlagSet returns a flag set that prints usage on -h and reports errors
// to Parse instead of exiting.
func FlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	return fs
}

// Parse parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, UsageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
