package gateway_test

import (
	"context"
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
	"github.com/mcpfort/mcpfort/internal/everything"
)

// TestHTTPResumptionOnAnotherReplica: two replicas sharing the session
// secrets front one HTTP upstream, behind round-robin balancing. The
// upstream closes a call's stream early; the client's GET with
// Last-Event-ID lands on the other replica, which resumes it from the
// upstream (the upstream session and the event ids travel with the
// client), and the client gets the result.
func TestHTTPResumptionOnAnotherReplica(t *testing.T) {
	h := everythingHandler(t)
	up := httptest.NewServer(h)
	defer up.Close()
	secret := session.GenerateSecret()
	var replicas []*gateway.Gateway
	for i := 0; i < 2; i++ {
		rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
		if err != nil {
			t.Fatal(err)
		}
		kr, _ := session.NewKeyring(secret)
		g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy,
			RetryHint: 10 * time.Millisecond, ReplicaID: []string{"a", "b"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, g)
	}
	var n atomic.Int64
	var resumedElsewhere atomic.Int32
	var lastPOST atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1) % 2
		if r.Method == http.MethodPost {
			lastPOST.Store(i)
		}
		if r.Method == http.MethodGet && r.Header.Get("Last-Event-Id") != "" && i != lastPOST.Load() {
			resumedElsewhere.Add(1)
		}
		replicas[i].ServeHTTP(w, r)
	}))
	defer lb.Close()
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: lb.URL}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 4 && resumedElsewhere.Load() == 0; i++ {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_reconnection"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Content) == 0 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "reconnected") {
			t.Fatalf("result = %+v", res.Content)
		}
	}
	if resumedElsewhere.Load() == 0 {
		t.Fatal("no stream was resumed on the other replica")
	}
}

// everythingHandler is the test server of both eras as an HTTP handler
// (mounted at everything.MCPPath).
func everythingHandler(t *testing.T) http.Handler {
	t.Helper()
	srv, err := everything.New(everything.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := everything.NewHandler(srv, everything.HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
