//lint:file-ignore SA1019 the gateway bridges logging between eras; the test upstream must log.

package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

type echoArgs struct {
	Text string `json:"text"`
}

type upstreamKind int

const (
	stateful   upstreamKind = iota // go-sdk with sessions: legacy era only
	stateless                      // go-sdk stateless: 2026-07-28 and session-less legacy
	modernOnly                     // stateless, refusing everything legacy
)

// newUpstream starts a go-sdk MCP server over Streamable HTTP.
func newUpstream(t testing.TB, kind upstreamKind) *httptest.Server {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echoes text"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "progress", Description: "reports progress"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			for i := 1; i <= 3; i++ {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 3})
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "logs", Description: "logs a message"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "a log line"})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "logged"}}}, nil, nil
	})
	var added atomic.Int32
	mcp.AddTool(srv, &mcp.Tool{Name: "add_tool", Description: "adds a tool, so the tool list changes"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		n := added.Add(1)
		mcp.AddTool(srv, &mcp.Tool{Name: fmt.Sprintf("added_%d", n), Description: "added"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "added"}}}, nil, nil
	})
	srv.AddResource(&mcp.Resource{URI: "test://r", Name: "r", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://r", MIMEType: "text/plain", Text: "hello"}}}, nil
	})
	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: kind != stateful})
	if kind == modernOnly {
		h = refuseLegacy(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// modernOnly makes a server refuse everything of the legacy era the way a
// 2026-07-28-only server does (basic/versioning "Compatibility Matrix").
func refuseLegacy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"method":"initialize"`)) || r.Header.Get("Mcp-Protocol-Version") != "2026-07-28" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"],"requested":"2025-11-25"}}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func newGateway(t *testing.T, upstreamURL string, kr *session.Keyring, era gateway.UpstreamEra) *httptest.Server {
	t.Helper()
	up, err := remote.New(remote.Options{URL: upstreamURL})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Route: "everything", Upstream: up, Keyring: kr, UpstreamEra: era})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	return ts
}

func connect(t *testing.T, url string, version string, hc *http.Client) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, DisableStandaloneSSE: true}
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := c.Connect(context.Background(), tr, opts)
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callEcho(t *testing.T, cs *mcp.ClientSession, text string) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; got != text {
		t.Fatalf("echo = %q, want %q", got, text)
	}
}

func TestGatewayEras(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	legacyUp := newUpstream(t, stateful)
	statelessUp := newUpstream(t, stateless)
	modernUp := newUpstream(t, modernOnly)
	tests := []struct {
		name, upstream, client, want string
	}{
		{"legacy client, legacy upstream", legacyUp.URL, "2025-11-25", "2025-11-25"},
		{"2025-06-18 client, legacy upstream", legacyUp.URL, "2025-06-18", "2025-06-18"},
		{"2025-03-26 client, legacy upstream", legacyUp.URL, "2025-03-26", "2025-03-26"},
		{"modern client, stateless upstream", statelessUp.URL, "", "2026-07-28"},
		{"modern client, legacy upstream", legacyUp.URL, "", "2026-07-28"},
		{"legacy client, modern upstream", modernUp.URL, "2025-11-25", "2025-11-25"},
		{"modern client, modern upstream", modernUp.URL, "", "2026-07-28"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, tt.upstream, kr, gateway.EraAuto)
			cs := connect(t, gw.URL, tt.client, nil)
			if got := cs.InitializeResult().ProtocolVersion; got != tt.want {
				t.Fatalf("negotiated %s, want %s", got, tt.want)
			}
			callEcho(t, cs, "hello "+tt.name)
			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil || len(tools.Tools) != 4 {
				t.Fatalf("tools/list = %v, %v", tools, err)
			}
			rr, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "test://r"})
			if err != nil || rr.Contents[0].Text != "hello" {
				t.Fatalf("resources/read = %v, %v", rr, err)
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "progress", Arguments: map[string]any{"text": "x"}})
			if err != nil || res.Content[0].(*mcp.TextContent).Text != "done" {
				t.Fatalf("progress tool: %v, %v", res, err)
			}
		})
	}
}

// alternating sends each request to the next of several base URLs.
type alternating struct {
	hosts []string
	n     atomic.Int64
}

func (a *alternating) RoundTrip(r *http.Request) (*http.Response, error) {
	host := a.hosts[a.n.Add(1)%int64(len(a.hosts))]
	r2 := r.Clone(r.Context())
	r2.URL.Host = strings.TrimPrefix(host, "http://")
	r2.Host = r2.URL.Host
	return http.DefaultTransport.RoundTrip(r2)
}

func TestTwoReplicasShareSessions(t *testing.T) {
	secret := session.GenerateSecret()
	kr1, _ := session.NewKeyring(secret)
	kr2, _ := session.NewKeyring(secret)
	up := newUpstream(t, stateful)
	g1 := newGateway(t, up.URL, kr1, gateway.EraAuto)
	g2 := newGateway(t, up.URL, kr2, gateway.EraAuto)
	hc := &http.Client{Transport: &alternating{hosts: []string{g1.URL, g2.URL}}}
	cs := connect(t, g1.URL, "2025-11-25", hc)
	for i := 0; i < 10; i++ {
		callEcho(t, cs, fmt.Sprintf("call %d", i))
	}
}

func TestSessionDeleteThen404(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	up := newUpstream(t, stateful)
	gw := newGateway(t, up.URL, kr, gateway.EraAuto)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	req, _ := http.NewRequest("POST", gw.URL, strings.NewReader(init))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	post := func(body string) int {
		req, _ := http.NewRequest("POST", gw.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); s != 202 {
		t.Fatalf("initialized: %d", s)
	}
	if s := post(`{"jsonrpc":"2.0","id":2,"method":"ping"}`); s != 200 {
		t.Fatalf("ping: %d", s)
	}
	del, _ := http.NewRequest("DELETE", gw.URL, nil)
	del.Header.Set("Mcp-Session-Id", sid)
	resp, err = http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if s := post(`{"jsonrpc":"2.0","id":3,"method":"ping"}`); s != 404 {
		t.Fatalf("ping after DELETE: %d, want 404", s)
	}
	_ = time.Second
}
