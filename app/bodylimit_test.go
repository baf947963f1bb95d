package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// TestOversizedBodyIsAnswered posts 10 MiB over loopback to a running
// mcpfort whose body limit is the default 4 MiB: to an open route (413)
// and to a protected route without a token (401). The client must read
// the status and its JSON body, not see the connection reset while it is
// still sending, both as net/http's client does it (reading while it
// sends) and as most HTTP/1.1 clients do it (send everything, then read).
func TestOversizedBodyIsAnswered(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
authserver: {enabled: true}
servers:
  - name: open
    path: /open/mcp
    auth: {required: false}
    stdio: {command: [%q]}
  - name: closed
    path: /mcp
    stdio: {command: [%q]}
`, port, filepath.Join(binDir, "mcpfort-everything"), filepath.Join(binDir, "mcpfort-everything"))), dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.MaxBody >= 10<<20 {
		t.Fatalf("max_body %d: the test body must be over it", cfg.HTTP.MaxBody)
	}
	a, err := app.New(cfg, app.Options{Version: "test", Getenv: func(string) string { return "" }, Console: io.Discard,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(a net.Addr) { addr <- a }) }()
	var base string
	select {
	case ad := <-addr:
		base = "http://" + ad.String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})

	const size = 10 << 20
	big := bytes.Repeat([]byte("a"), size)
	copy(big, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"`)
	copy(big[size-4:], `"}}}`)

	type answer struct {
		status int
		body   string
	}
	// viaClient is net/http's client: it reads the answer while sending.
	viaClient := func(path string, chunked bool) (answer, error) {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = struct{ io.Reader }{body}
		}
		req, err := http.NewRequest(http.MethodPost, base+path, body)
		if err != nil {
			return answer{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b)}, err
	}
	// sendThenRead writes the whole request before reading anything, as
	// most HTTP/1.1 clients do.
	sendThenRead := func(path string, chunked bool) (answer, error) {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			return answer{}, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = struct{ io.Reader }{body}
		}
		req, err := http.NewRequest(http.MethodPost, base+path, body)
		if err != nil {
			return answer{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if err := req.Write(c); err != nil {
			return answer{}, fmt.Errorf("sending: %w", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return answer{}, fmt.Errorf("reading: %w", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b)}, err
	}
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/open/mcp", http.StatusRequestEntityTooLarge, `"message":"Request body too large"`},
		{"/mcp", http.StatusUnauthorized, `a bearer access token is required`},
	} {
		for _, chunked := range []bool{false, true} {
			for name, send := range map[string]func(string, bool) (answer, error){"client": viaClient, "send-then-read": sendThenRead} {
				t.Run(fmt.Sprintf("%s/chunked=%v/%s", tt.path, chunked, name), func(t *testing.T) {
					for i := range 3 {
						got, err := send(tt.path, chunked)
						if err != nil {
							t.Fatalf("attempt %d: %v", i, err)
						}
						if got.status != tt.status || !strings.Contains(got.body, tt.want) {
							t.Fatalf("attempt %d: %d %q, want %d with %s", i, got.status, got.body, tt.status, tt.want)
						}
					}
				})
			}
		}
	}
}
