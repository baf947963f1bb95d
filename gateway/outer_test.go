package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/internal/everything"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// Options.Outer runs before the Gate and the gateway's own Mcp-Param-*
// checks: a call the gate answers, or one those checks refuse, is still
// seen (and its outcome known) by what must see every call, such as the
// audit log; Middleware runs only for calls that pass them.
func TestOuterSeesGateAndHeaderRefusals(t *testing.T) {
	h := everythingHandler(t)
	var upstreamCalls sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Store(r.Header.Get("Mcp-Name"), true)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	rem, err := remote.New(remote.Options{URL: up.URL + everything.MCPPath})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		name string
		err  error
	}
	var mu sync.Mutex
	var outer, inner []seen
	record := func(into *[]seen) gateway.Middleware {
		return func(next gateway.Handler) gateway.Handler {
			return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
				r, err := next(ctx, c)
				mu.Lock()
				*into = append(*into, seen{c.Params.Name, err})
				mu.Unlock()
				return r, err
			}
		}
	}
	errGate := jsonrpc.NewError(jsonrpc.CodeForbidden, "Forbidden: connect first")
	gate := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Params.Name == "gated" {
				return nil, errGate
			}
			return next(ctx, c)
		}
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraModern,
		Outer: []gateway.Middleware{record(&outer)}, Gate: gate, Middleware: []gateway.Middleware{record(&inner)}})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g)
	t.Cleanup(gw.Close)
	post := func(tool, region, header string) (int, string) {
		req, _ := http.NewRequest("POST", gw.URL, strings.NewReader(modernBody("tools/call", `"name":"`+tool+`","arguments":{"region":"`+region+`"}`)))
		for k, v := range modernHeaders("tools/call", tool) {
			req.Header.Set(k, v)
		}
		req.Header.Set("Mcp-Param-Region", header)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The header differs from the argument: 400 -32020 (streamable-http
	// "Server Behavior for Custom Headers").
	if st, body := post("test_x_mcp_header", "eu-west1", "us-east1"); st != 400 || !strings.Contains(body, "-32020") {
		t.Fatalf("mismatched header: %d %s", st, body)
	}
	if st, body := post("gated", "eu-west1", "eu-west1"); !strings.Contains(body, "connect first") {
		t.Fatalf("gated: %d %s", st, body)
	}
	if st, body := post("test_x_mcp_header", "eu-west1", "eu-west1"); st != 200 || !strings.Contains(body, "region=eu-west1") {
		t.Fatalf("good call: %d %s", st, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(outer) != 3 {
		t.Fatalf("outer saw %d calls, want 3: %+v", len(outer), outer)
	}
	var re *jsonrpc.Error
	if outer[0].name != "test_x_mcp_header" || !errors.As(outer[0].err, &re) || re.Code != jsonrpc.CodeHeaderMismatch {
		t.Fatalf("outer saw the header refusal as %+v", outer[0])
	}
	if outer[1].name != "gated" || !errors.Is(outer[1].err, errGate) {
		t.Fatalf("outer saw the gate's answer as %+v", outer[1])
	}
	if outer[2].err != nil {
		t.Fatalf("outer saw the good call fail: %+v", outer[2])
	}
	if len(inner) != 1 || inner[0].name != "test_x_mcp_header" || inner[0].err != nil {
		t.Fatalf("Middleware must see only the call that passed the gate and the header checks: %+v", inner)
	}
	if _, ok := upstreamCalls.Load("gated"); ok {
		t.Fatal("the gated call reached the upstream")
	}
}
