// Command relay is a reference proxy for the benchmarks: what relaying a
// call costs in Go before any MCP work, so that the gateway's CPU per call
// can be read against proxies as well as against the bare handler.
//
//	relay -mode tcp  -upstream 127.0.0.1:PORT   # bytes only: one upstream connection per client connection, io.Copy both ways
//	relay -mode http -upstream 127.0.0.1:PORT   # net/http/httputil.ReverseProxy over a keep-alive http.Transport
//
// It prints "listening on http://ADDR/mcp" once it accepts connections.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	up := flag.String("upstream", "", "upstream `host:port` (loopback)")
	mode := flag.String("mode", "tcp", "tcp (bytes) or http (httputil.ReverseProxy)")
	flag.Parse()
	if err := run(*addr, *up, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(addr, up, mode string) error {
	if up == "" {
		return errors.New("-upstream is required")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	fmt.Fprintf(os.Stderr, "listening on http://%s/mcp\n", ln.Addr())
	switch mode {
	case "tcp":
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			go pipe(c, up)
		}
	case "http":
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: up})
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
		srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("unknown -mode %q", mode)
}

// pipe relays one client connection over its own upstream connection.
func pipe(c net.Conn, up string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", up, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		_, _ = io.Copy(u, c)
		_ = u.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, u)
}
