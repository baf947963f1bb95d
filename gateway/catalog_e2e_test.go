package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/schema"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/internal/everything"
)

// listingGateway is a gateway with schema checks and pinning (trust on
// first use) in front of the conformance server, which counts the
// tools/list listings it is asked for (first pages: a listing of several
// pages counts once).
type listingGateway struct {
	url      string
	listings atomic.Int64
}

func newListingGateway(t *testing.T, era gateway.UpstreamEra) *listingGateway {
	t.Helper()
	h := everythingHandler(t)
	lg := &listingGateway{}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"method":"tools/list"`)) && !bytes.Contains(body, []byte(`"cursor"`)) {
			lg.listings.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
	if err != nil {
		t.Fatal(err)
	}
	v, err := schema.New(schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pin, err := pinning.New(pinning.Options{ServerOptions: pinning.ServerOptions{TrustOnFirstUse: true}})
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: era,
		Middleware: []gateway.Middleware{v.Wrap, pin.Wrap}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g)
	t.Cleanup(gw.Close)
	lg.url = gw.URL
	return lg
}

// call sends a 2026-07-28 tools/call of tool with a region argument and
// its Mcp-Param-Region header, and returns the status and body.
func (lg *listingGateway) call(t *testing.T, tool string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", lg.url, strings.NewReader(modernBody("tools/call", fmt.Sprintf(`"name":%q,"arguments":{"region":"eu-west1"}`, tool))))
	for k, v := range modernHeaders("tools/call", tool) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Mcp-Param-Region", "eu-west1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestOneListingPerCatalog counts the upstream's tools/list listings
// through a running gateway whose schema checks, pinning and Mcp-Param-*
// header checks all need the tool definitions: they share one listing,
// concurrent first calls share it too, and calls naming tools the upstream
// does not list are answered from it.
func TestOneListingPerCatalog(t *testing.T) {
	t.Run("schema, pinning and param headers", func(t *testing.T) {
		lg := newListingGateway(t, gateway.EraModern)
		if status, body := lg.call(t, "test_x_mcp_header"); status != 200 || !strings.Contains(body, "region=eu-west1") {
			t.Fatalf("call: %d %s", status, body)
		}
		if n := lg.listings.Load(); n != 1 {
			t.Fatalf("%d tools/list listings for one call, want 1", n)
		}
	})
	t.Run("concurrent first calls", func(t *testing.T) {
		lg := newListingGateway(t, gateway.EraModern)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				if status, body := lg.call(t, "test_x_mcp_header"); status != 200 || !strings.Contains(body, "region=eu-west1") {
					t.Errorf("call: %d %s", status, body)
				}
			})
		}
		wg.Wait()
		if n := lg.listings.Load(); n != 1 {
			t.Fatalf("%d tools/list listings for 16 concurrent calls, want 1", n)
		}
	})
	t.Run("unknown tools", func(t *testing.T) {
		lg := newListingGateway(t, gateway.EraModern)
		lg.call(t, "test_x_mcp_header")
		for i := range 20 {
			if status, body := lg.call(t, fmt.Sprint("made_up_", i)); !strings.Contains(body, "made_up_") || status == 500 {
				t.Fatalf("unknown tool: %d %s", status, body)
			}
		}
		if n := lg.listings.Load(); n != 1 {
			t.Fatalf("%d tools/list listings after 20 calls of unknown tools, want 1", n)
		}
	})
}

// TestListChangedInvalidates: notifications/tools/list_changed from the
// upstream, relayed on a legacy session's GET stream, makes the next call
// list the tools again, so a tool added since is seen at once (here:
// quarantined by pinning as new, where before the schema check found no
// such tool).
func TestListChangedInvalidates(t *testing.T) {
	lg := newListingGateway(t, gateway.EraLegacy)
	changed := make(chan struct{}, 1)
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: lg.url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(name string) error {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
		return err
	}
	if err := call("test_x_mcp_header"); err != nil {
		t.Fatal(err)
	}
	if err := call("test_transient_tool"); err == nil || !strings.Contains(err.Error(), "Unknown tool") {
		t.Fatalf("a tool not listed yet: %v", err)
	}
	if n := lg.listings.Load(); n != 1 {
		t.Fatalf("%d listings before the change, want 1", n)
	}
	if err := call("test_trigger_tool_change"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no notifications/tools/list_changed reached the client")
	}
	if err := call("test_transient_tool"); err == nil || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("the added tool after list_changed: %v", err)
	}
	if n := lg.listings.Load(); n != 2 {
		t.Fatalf("%d listings after list_changed, want 2", n)
	}
}
