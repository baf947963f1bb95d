package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// target is a parsed endpoint URL.
type target struct {
	addr string // host:port to dial
	host string // Host header value
	path string // request target
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return target{}, fmt.Errorf("load: %q must be an http:// URL (the generator speaks plain HTTP/1.1)", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	return target{addr: addr, host: u.Host, path: path}, nil
}

// conn is one keep-alive HTTP/1.1 client connection. It redials when the
// server closed it, and replays a request once when a reused connection
// turns out to have been closed before any response byte arrived (what
// net/http's Transport does for the same race).
type conn struct {
	t       target
	dialer  *net.Dialer
	nc      net.Conn
	br      *bufio.Reader
	resp    response
	maxBody int
	timeout time.Duration
	used    bool // nc has carried a request
}

func newConn(t target, maxBody int, timeout time.Duration) *conn {
	return &conn{t: t, dialer: &net.Dialer{}, maxBody: maxBody, timeout: timeout}
}

func (c *conn) dial(ctx context.Context) error {
	nc, err := c.dialer.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c.nc, c.used = nc, false
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

// Close closes the network connection, if any.
func (c *conn) Close() {
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
}

// roundTrip writes req (a complete HTTP/1.1 request) and reads the
// response. With head set the body is left on the wire and the connection
// belongs to the caller's stream until Close.
func (c *conn) roundTrip(ctx context.Context, req []byte, head bool) (*response, error) {
	for attempt := 0; ; attempt++ {
		if c.nc == nil {
			if err := c.dial(ctx); err != nil {
				return nil, err
			}
		}
		reused := c.used
		c.used = true
		if c.timeout > 0 {
			_ = c.nc.SetDeadline(time.Now().Add(c.timeout))
		}
		_, err := c.nc.Write(req)
		if err == nil {
			err = readResponse(c.br, &c.resp, c.maxBody, head)
		}
		if err != nil {
			c.Close()
			if attempt == 0 && reused && staleConn(err) {
				continue
			}
			return nil, err
		}
		if head {
			// A held stream has no deadline once its headers are in.
			_ = c.nc.SetDeadline(time.Time{})
		} else if c.resp.close {
			c.Close()
		}
		return &c.resp, nil
	}
}

// staleConn reports an error that means the server had already closed a
// kept-alive connection when the request was written.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// request assembles HTTP/1.1 requests into one reused buffer.
type request struct {
	buf []byte
	// auth, if set, is sent as the Authorization header of every request.
	auth string
}

// header is one extra request header.
type header struct{ name, value string }

// build returns a complete request: method, target t, the fixed headers
// every MCP request carries, extra headers, and body (nil for none).
func (r *request) build(method string, t target, extra []header, body []byte) []byte {
	b := r.buf[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, t.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: mcpload\r\n"...)
	if method == "GET" {
		b = append(b, "Accept: text/event-stream\r\n"...)
	} else {
		// 2025-11-25 and 2026-07-28 transports: a POST MUST accept both.
		b = append(b, "Accept: application/json, text/event-stream\r\n"...)
	}
	if r.auth != "" {
		b = append(b, "Authorization: "...)
		b = append(b, r.auth...)
		b = append(b, "\r\n"...)
	}
	for _, h := range extra {
		b = append(b, h.name...)
		b = append(b, ": "...)
		b = append(b, h.value...)
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n\r\n"...)
		b = append(b, body...)
	} else {
		b = append(b, "\r\n"...)
	}
	r.buf = b
	return b
}
