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
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// bearer adds a token to every request of the go-sdk client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

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
	// The resource URI depends on the listener's port: start it first.
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

func (e *env) token(t *testing.T, sub string, aud string, scopes ...string) string {
	t.Helper()
	tok, err := e.iss.Sign(resourceservertest.Token{Subject: sub, Audience: []string{aud}, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) connect(t *testing.T, token string) (*mcp.ClientSession, error) {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, nil)
	return client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint:             e.resource,
		HTTPClient:           &http.Client{Transport: bearer{token, http.DefaultTransport}},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}, nil)
}

// TestGoSDKBehindMiddleware drives the official go-sdk StreamableHTTPHandler
// through the middleware with the official go-sdk client.
func TestGoSDKBehindMiddleware(t *testing.T) {
	e := newEnv(t)
	cs, err := e.connect(t, e.token(t, "alice", e.resource, "mcp:tools"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami"})
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

// TestGoSDKRefusals: what never reaches the SDK, as a client sees it.
func TestGoSDKRefusals(t *testing.T) {
	e := newEnv(t)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	tests := []struct {
		name   string
		authz  string
		status int
		errc   string
	}{
		{"no token", "", 401, ""},
		{"token for another server", "Bearer " + e.token(t, "alice", "https://other.example/mcp", "mcp:tools"), 401, "invalid_token"},
		{"missing scope", "Bearer " + e.token(t, "alice", e.resource), 403, "insufficient_scope"},
		{"garbage", "Bearer abc", 401, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(init))
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
			if string(c.Error) != tt.errc || c.ResourceMetadata != e.srv.URL+"/.well-known/oauth-protected-resource/mcp" {
				t.Errorf("challenge %+v", c)
			}
		})
	}
	t.Run("metadata", func(t *testing.T) {
		resp, err := http.Get(e.srv.URL + "/.well-known/oauth-protected-resource/mcp")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md resourceserver.Metadata
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		if md.Resource != e.resource || md.AuthorizationServers[0] != e.iss.URL {
			t.Errorf("metadata %+v", md)
		}
	})
}

// TestGoSDKSessionBoundToPrincipal: bob cannot use alice's session id.
func TestGoSDKSessionBoundToPrincipal(t *testing.T) {
	e := newEnv(t)
	cs, err := e.connect(t, e.token(t, "alice", e.resource, "mcp:tools"))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
	req, _ := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(call))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Authorization", "Bearer "+e.token(t, "bob", e.resource, "mcp:tools"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// The go-sdk answers 403 "session user mismatch".
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "alice") {
		t.Fatalf("bob used alice's session: %d %s", resp.StatusCode, body)
	}
}
