// Command relay is a reference proxy for the benchmarks: what relaying a
// call costs in Go before any MCP work, so that the gateway's CPU per call
// can be read against proxies as well as against the bare handler.
//
//	relay -mode tcp  -upstream 127.0.0.1:PORT   # bytes only: one upstream connection per client connection, io.Copy both ways
//	relay -mode http -upstream 127.0.0.1:PORT   # net/http/httputil.ReverseProxy over a keep-alive http.Transport
//	relay -mode h1   -upstream 127.0.0.1:PORT   # net/http server, each POST forwarded over a pooled keep-alive connection
//
// -mode h1 is the floor of an HTTP proxy served by net/http: the handler
// reads the body, writes it upstream with the session header, reads the
// answer with http.ReadResponse and writes it back. It reads nothing of
// the JSON and keeps no log, metrics or policy: what is left over the
// bare handler is what forwarding one request costs.
//
// It prints "listening on http://ADDR/mcp" once it accepts connections.
package main

import (
	"bufio"
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
	"strconv"
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
	case "h1":
		f := &forwarder{up: up, idle: make(chan *upConn, 1024)}
		srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
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

// forwarder is -mode h1: every request goes upstream as one POST (or
// GET/DELETE) over a keep-alive connection taken from idle.
type forwarder struct {
	up   string
	idle chan *upConn
}

type upConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// forwarded are the request headers passed on, and back.
var forwarded = []string{"Content-Type", "Accept", "Mcp-Session-Id", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name"}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var u *upConn
	select {
	case u = <-f.idle:
	default:
		c, err := net.DialTimeout("tcp", f.up, 5*time.Second)
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		u = &upConn{c: c, r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	}
	u.w.WriteString(r.Method + " " + r.URL.RequestURI() + " HTTP/1.1\r\nHost: " + f.up + "\r\n")
	for _, k := range forwarded {
		if v := r.Header.Get(k); v != "" {
			u.w.WriteString(k + ": " + v + "\r\n")
		}
	}
	u.w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	u.w.Write(body)
	resp, err := func() (*http.Response, error) {
		if err := u.w.Flush(); err != nil {
			return nil, err
		}
		return http.ReadResponse(u.r, r)
	}()
	if err != nil {
		u.c.Close()
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		u.c.Close()
	} else {
		select {
		case f.idle <- u:
		default:
			u.c.Close()
		}
	}
	if err != nil {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	for _, k := range forwarded {
		if v := resp.Header.Get(k); v != "" {
			w.Header()[k] = []string{v}
		}
	}
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(answer))}
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}
