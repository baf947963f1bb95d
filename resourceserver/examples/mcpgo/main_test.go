package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

type env struct {
	iss      *resourceservertest.Issuer
	srv      *httptest.Server
	resource string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	iss, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	e := &env{iss: iss}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.resource = e.srv.URL + "/mcp"
	h, err = NewHandler(Config{Issuer: iss.URL, Resource: e.resource, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) token(t *testing.T, sub, aud string, scopes ...string) string {
	t.Helper()
	tok, err := e.iss.Sign(resourceservertest.Token{Subject: sub, Audience: []string{aud}, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) connect(t *testing.T, token string) *client.Client {
	t.Helper()
	c, err := client.NewStreamableHttpClient(e.resource,
		transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	req.Params.ClientInfo = mcp.Implementation{Name: "test-client", Version: "1.0.0"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMCPGoBehindMiddleware drives mcp-go's StreamableHTTPServer through the
// middleware with mcp-go's own client.
func TestMCPGoBehindMiddleware(t *testing.T) {
	e := newEnv(t)
	c := e.connect(t, e.token(t, "alice", e.resource, "mcp:tools"))
	req := mcp.CallToolRequest{}
	req.Params.Name = "whoami"
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("tool error: %+v", res.Content)
	}
	var got WhoamiOutput
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := WhoamiOutput{Subject: "alice", Issuer: e.iss.URL, ClientID: "client", Scopes: []string{"mcp:tools"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("whoami (-want +got):\n%s", diff)
	}
}

// TestMCPGoRefusals: what never reaches mcp-go, as a client sees it.
func TestMCPGoRefusals(t *testing.T) {
	e := newEnv(t)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	tests := []struct {
		name   string
		target string
		authz  string
		status int
		errc   string
	}{
		{"no token", "", "", 401, ""},
		{"token in query", "?access_token=abc", "", 400, "invalid_request"},
		{"token for another server", "", "Bearer " + e.token(t, "alice", "https://other.example/mcp", "mcp:tools"), 401, "invalid_token"},
		{"missing scope", "", "Bearer " + e.token(t, "alice", e.resource), 403, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.resource+tt.target, strings.NewReader(init))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			c, err := resourceserver.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
			if err != nil {
				t.Fatal(err)
			}
			if string(c.Error) != tt.errc {
				t.Errorf("challenge %+v", c)
			}
		})
	}
}

// TestMCPGoSessionBoundToPrincipal: bob presenting alice's session id gets
// 404, as if the session did not exist.
func TestMCPGoSessionBoundToPrincipal(t *testing.T) {
	e := newEnv(t)
	c := e.connect(t, e.token(t, "alice", e.resource, "mcp:tools"))
	sid := c.GetSessionId()
	if sid == "" {
		t.Fatal("no session id")
	}
	for _, who := range []string{"bob", "alice"} {
		call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
		req, _ := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(call))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		req.Header.Set("Authorization", "Bearer "+e.token(t, who, e.resource, "mcp:tools"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusNotFound
		if who == "alice" {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("%s with alice's session: status %d, want %d: %s", who, resp.StatusCode, want, body)
		}
	}
}
