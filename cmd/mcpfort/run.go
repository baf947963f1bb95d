package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const usage = `Usage:
  mcpfort serve --config FILE    run the gateway
  mcpfort check-config [--resolve-secrets] FILE
                                 validate a configuration file and exit; with
                                 --resolve-secrets, also resolve every secret
                                 reference and report those that fail (never values)
  mcpfort version                print the version
  mcpfort users add|passwd|list|disable|enable [--config FILE | --db DSN]
                                 manage local accounts of the embedded authorization server
  mcpfort tools list|diff|approve|revoke [--config FILE | --db DSN]
                                 review and approve pinned tool definitions
  mcpfort audit verify|export|head [--config FILE | --db DSN]
                                 check the audit log's hash chain, export it as JSON Lines
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "mcpfort", buildVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if code, ok := extraCommand(args, stdout, stderr); ok {
		return code
	}
	fmt.Fprintf(stderr, "mcpfort: unknown command %q\n%s", args[0], usage)
	return 2
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "mcpfort.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort: %v\n", err)
		return 1
	}
	logger, closeLog := app.NewBufferedLogger(stderr, cfg.Log)
	a, err := app.New(cfg, app.Options{Version: buildVersion(), Logger: logger})
	if err != nil {
		_ = closeLog()
		fmt.Fprintf(stderr, "mcpfort: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = a.Run(ctx, nil)
	_ = closeLog()
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort: %v\n", err)
		return 1
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	resolve := false
	if len(args) == 2 && (args[0] == "--resolve-secrets" || args[0] == "-resolve-secrets") {
		resolve, args = true, args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: mcpfort check-config [--resolve-secrets] FILE")
		return 2
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		var p config.Problems
		if errors.As(err, &p) {
			fmt.Fprintf(stderr, "%s: %d problem(s):\n", args[0], len(p))
			for _, s := range p {
				fmt.Fprintln(stderr, "  "+s)
			}
			return 1
		}
		fmt.Fprintf(stderr, "mcpfort: %v\n", err)
		return 1
	}
	if resolve {
		return resolveSecrets(cfg, args[0], stdout, stderr)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}

// resolveSecrets resolves every secret reference of cfg once and lists
// each with "ok" or its error; values are never printed.
func resolveSecrets(cfg *config.Config, path string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checks, err := app.CheckSecrets(ctx, cfg, app.Options{Logger: app.NewLogger(stderr, cfg.Log)})
	if err != nil {
		fmt.Fprintf(stderr, "mcpfort: %v\n", err)
		return 1
	}
	failed := 0
	for _, c := range checks {
		if c.Err != nil {
			failed++
			fmt.Fprintf(stdout, "  %s: %s: FAILED: %v\n", c.Field, c.Ref, c.Err)
			continue
		}
		fmt.Fprintf(stdout, "  %s: %s: ok\n", c.Field, c.Ref)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%s: %d of %d secret reference(s) failed\n", path, failed, len(checks))
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok, %d secret reference(s) resolved\n", path, len(checks))
	return 0
}
