package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// TestShutdownDelay checks http.shutdown_delay: after the stop signal the
// replica answers /readyz with 503 and still serves calls for the delay,
// so that a load balancer polling /readyz moves traffic away before
// connections are refused; then it drains and stops.
func TestShutdownDelay(t *testing.T) {
	const delay = 2 * time.Second
	cfg, err := config.Load(writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
http: {shutdown_grace: 5s, shutdown_delay: %s}
servers:
  - name: everything
    path: /mcp
    stdio:
      command: [%q]
`, delay, filepath.Join(binDir, "mcpfort-everything"))))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, app.Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status("/readyz"); s != http.StatusOK {
		t.Fatalf("/readyz before the signal: %d", s)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	stopped := time.Now()
	cancel()
	time.Sleep(200 * time.Millisecond)
	if s := status("/readyz"); s != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the delay: %d, want 503", s)
	}
	if s := status("/healthz"); s != http.StatusOK {
		t.Fatalf("/healthz during the delay: %d, want 200", s)
	}
	// Calls are still served, in the open session and in a new one.
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "still here"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "still here" {
		t.Fatalf("call during the delay: %v %v", res, err)
	}
	if time.Since(stopped) >= delay {
		t.Skip("the machine was too slow to check inside the delay")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(delay + 10*time.Second):
		t.Fatal("Run did not return after the delay and the grace period")
	}
	if since := time.Since(stopped); since < delay {
		t.Fatalf("stopped %v after the signal, before the %v delay", since, delay)
	}
	if s := status("/healthz"); s != 0 {
		t.Fatalf("/healthz after the stop: %d, want a refused connection", s)
	}
}
