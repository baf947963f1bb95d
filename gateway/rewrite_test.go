package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// stdioServerEnv makes the test binary an MCP server on stdio (see
// TestMain), so that the local upstream runs a real child process without
// a separate build.
const stdioServerEnv = "MCPFORT_GATEWAY_TEST_STDIO_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(stdioServerEnv) == "1" {
		srv := mcp.NewServer(&mcp.Implementation{Name: "stdio-upstream", Version: "1.0.0"}, nil)
		mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echoes text"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
		if err := srv.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newStdioUpstream is a local upstream running this test binary as its
// MCP server, configured as app configures one.
func newStdioUpstream(t *testing.T) upstream.Upstream {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := stdio.Options{Command: []string{exe}, Env: []string{stdioServerEnv + "=1"}}
	sessions, err := stdio.New(base)
	if err != nil {
		t.Fatal(err)
	}
	base.Isolation = stdio.PerSession
	stateless, err := stdio.New(base)
	if err != nil {
		t.Fatal(err)
	}
	up, err := local.New(local.Options{Sessions: sessions, Stateless: stateless})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close(context.Background()) })
	return up
}

// TestRewrittenBodyReachesEveryUpstream: the bytes a policy leaves with
// SetBody are what the upstream receives, whatever its kind (HTTP or
// stdio) and whichever era bridge sits between (legacy client to a
// 2026-07-28 upstream, and the reverse). The upstream echoes the argument
// it received; the client must read the rewritten one.
func TestRewrittenBodyReachesEveryUpstream(t *testing.T) {
	mask := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Msg.Method == "tools/call" {
				if err := c.SetBody(bytes.Replace(c.Body(), []byte("secret"), []byte("masked"), 1)); err != nil {
					return nil, err
				}
				if bytes.Contains(c.Params.Arguments, []byte("secret")) {
					t.Error("the decoded arguments do not follow the rewritten bytes")
				}
			}
			return next(ctx, c)
		}
	}
	legacyUp := newUpstream(t, stateful)
	modernUp := newUpstream(t, modernOnly)
	stdioUp := newStdioUpstream(t)
	remoteUp := func(url string) upstream.Upstream {
		up, err := remote.New(remote.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		return up
	}
	for _, tc := range []struct {
		name   string
		up     upstream.Upstream
		era    gateway.UpstreamEra
		client string // "" for 2026-07-28
	}{
		{"http, legacy client, legacy upstream", remoteUp(legacyUp.URL), gateway.EraLegacy, "2025-11-25"},
		{"http, 2026 client, legacy upstream (bridged)", remoteUp(legacyUp.URL), gateway.EraLegacy, ""},
		{"http, legacy client, 2026 upstream (bridged)", remoteUp(modernUp.URL), gateway.EraModern, "2025-11-25"},
		{"http, 2026 client, 2026 upstream", remoteUp(modernUp.URL), gateway.EraModern, ""},
		{"stdio, legacy client", stdioUp, gateway.EraLegacy, "2025-11-25"},
		{"stdio, 2026 client (bridged)", stdioUp, gateway.EraLegacy, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr, _ := session.NewKeyring(session.GenerateSecret())
			g, err := gateway.New(gateway.Options{Route: "r", Upstream: tc.up, Keyring: kr, UpstreamEra: tc.era,
				Middleware: []gateway.Middleware{mask}})
			if err != nil {
				t.Fatal(err)
			}
			gw := newServer(t, g)
			cs := connect(t, gw, tc.client, nil)
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "a secret"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Content[0].(*mcp.TextContent).Text; got != "a masked" {
				t.Fatalf("the upstream received %q, want the rewritten %q", got, "a masked")
			}
		})
	}
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestStatelessRequestsShareIDs: 2026-07-28 requests are independent, so
// concurrent requests of one principal may carry the same id; bridged to
// a stdio server they share the principal's conn, and each must still get
// its own answer under its own id (not "request id already in flight").
func TestStatelessRequestsShareIDs(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: newStdioUpstream(t), Keyring: kr, UpstreamEra: gateway.EraLegacy})
	if err != nil {
		t.Fatal(err)
	}
	gw := newServer(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := fmt.Sprintf("call %d", i)
			resp := modernPost(t, ctx, gw, "tools/call", "echo", fmt.Sprintf(`"name":"echo","arguments":{"text":%q}`, text))
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":7`) || !strings.Contains(string(body), `"text":"`+text+`"`) || strings.Contains(string(body), `"error"`) {
				t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
}

// TestStatelessStdioRequestsShareIDs: the local upstream serves 2026-07-28
// requests on one conn per principal; concurrent requests with the same
// id each get their own answer under that id.
func TestStatelessStdioRequestsShareIDs(t *testing.T) {
	up := newStdioUpstream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// This test server is a 2025 one: initialize the principal's conn
	// first (a 2026-07-28 server needs no handshake).
	reply, err := up.Post(ctx, &upstream.Request{Body: []byte(initBody), Principal: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reply.Next(ctx); err != nil {
		t.Fatal(err)
	}
	reply.Close()
	if _, err := up.Post(ctx, &upstream.Request{Body: []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), Principal: "p"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := fmt.Sprintf("call %d", i)
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":%q}}}`, text)
			reply, err := up.Post(ctx, &upstream.Request{Body: []byte(body), Principal: "p"})
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer reply.Close()
			for {
				ev, err := reply.Next(ctx)
				if err != nil {
					t.Errorf("request %d: no response: %v", i, err)
					return
				}
				m, err := ev.Message()
				if err != nil || m.Kind != jsonrpc.KindResponse {
					continue
				}
				if m.ID.Raw() != "7" || m.Error != nil || !strings.Contains(string(m.Result), `"text":"`+text+`"`) {
					t.Errorf("request %d: %s", i, ev.Data)
				}
				return
			}
		}()
	}
	wg.Wait()
}
