// Command mcpfort-everything runs the conformance target server: every tool,
// resource and prompt the official MCP conformance suite expects, plus the
// "echo" benchmark tool. It serves MCP over stdio by default, or over
// Streamable HTTP (both protocol eras) with -http.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mcpfort/mcpfort/internal/everything"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "mcpfort-everything:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcpfort-everything", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "", "serve Streamable HTTP on this loopback `address` (for example 127.0.0.1:3001) instead of stdio; MCP at /mcp, liveness at /health")
	allowHosts := fs.String("allow-hosts", "", "comma-separated extra `hosts` accepted in Host/Origin besides localhost, 127.0.0.1 and [::1]")
	watch := fs.Duration("watch-interval", 3*time.Second, "how often test://watched-resource reports an update to subscribers (0 disables)")
	sessionTimeout := fs.Duration("session-timeout", 10*time.Minute, "close idle legacy sessions after this long (negative: never)")
	verbose := fs.Bool("v", false, "log SDK and transport activity to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	// stdout carries the stdio protocol: logs only ever go to stderr.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	server, err := everything.New(everything.Options{Logger: logger})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *watch > 0 {
		go func() { _ = everything.RunWatchedResourceUpdates(ctx, server, *watch) }()
	}

	if *httpAddr == "" {
		err := server.Run(ctx, &mcp.StdioTransport{})
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var hosts []string
	if *allowHosts != "" {
		hosts = strings.Split(*allowHosts, ",")
	}
	return serveHTTP(ctx, *httpAddr, server, everything.HandlerOptions{
		Logger: logger, AllowedHosts: hosts, SessionTimeout: *sessionTimeout,
	}, logger, stderr)
}

// serveHTTP listens on a loopback address only: this server has no
// authentication, so it must not be reachable from other machines
// (2025-11-25 basic/transports: local servers SHOULD bind only to localhost).
func serveHTTP(ctx context.Context, addr string, server *mcp.Server, opts everything.HandlerOptions, logger *slog.Logger, stderr io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-http %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-http %q: refusing to listen on a non-loopback address", addr)
	}
	h, err := everything.NewHandler(server, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	// Printed on stderr so scripts can wait for readiness and learn the port
	// when addr ends in :0.
	fmt.Fprintf(stderr, "mcpfort-everything: listening on http://%s%s\n", ln.Addr(), everything.MCPPath)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
