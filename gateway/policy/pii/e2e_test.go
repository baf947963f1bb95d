package pii_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// upstream is a go-sdk server whose tools reveal what they received and
// return personal data of their own, structured and as text.
type upstream struct {
	URL  string
	mu   sync.Mutex
	seen []string // arguments as the upstream received them
}

func (u *upstream) received() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

type textArgs struct {
	Text string `json:"text"`
}

type profile struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Card  string `json:"card"`
}

func newUpstream(t *testing.T, stateless bool) *upstream {
	t.Helper()
	u := &upstream{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "pii-upstream", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echoes text"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		u.mu.Lock()
		u.seen = append(u.seen, a.Text)
		u.mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "profile", Description: "returns a customer profile"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, profile, error) {
		return nil, profile{Name: "Ada", Email: "ada@example.com", Card: "4111 1111 1111 1111"}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "config", Description: "returns deployment settings"}, func(ctx context.Context, req *mcp.CallToolRequest, a textArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "region eu-west-1, key AKIAIOSFODNN7EXAMPLE"}}}, nil, nil
	})
	srv.AddResource(&mcp.Resource{URI: "test://customers", Name: "customers", MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "ada@example.com, +44 20 7946 0958"}}}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless}))
	t.Cleanup(ts.Close)
	u.URL = ts.URL
	return u
}

func TestThroughGateway(t *testing.T) {
	for _, era := range policytest.Eras {
		t.Run(era.Name, func(t *testing.T) {
			up := newUpstream(t, era.Stateless)
			p, err := pii.New(pii.Options{
				Detectors: map[pii.Kind]pii.Rule{
					pii.Card:   {Arguments: pii.Block},
					pii.Secret: {Results: pii.Block},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}})
			cs := policytest.Connect(t, gw.URL, era, nil)
			ctx := context.Background()

			// Arguments are masked before they leave the gateway.
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "I am bob@example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := up.received(); len(got) != 1 || got[0] != "I am b***@example.com" {
				t.Fatalf("upstream received %q", got)
			}
			if got := policytest.Text(res); got != "I am b***@example.com" {
				t.Fatalf("result %q", got)
			}

			// A blocked kind in arguments refuses the call; the upstream never
			// sees it.
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "card 4111 1111 1111 1111"}})
			if err == nil || !strings.Contains(err.Error(), "payment card number") {
				t.Fatalf("card in arguments: err = %v", err)
			}
			if strings.Contains(err.Error(), "4111") {
				t.Fatalf("the refusal echoes the card: %v", err)
			}
			if n := len(up.received()); n != 1 {
				t.Fatalf("upstream ran %d times, want 1", n)
			}

			// Structured results are masked in place and stay valid.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "profile", Arguments: map[string]any{"text": ""}})
			if err != nil {
				t.Fatal(err)
			}
			sc, _ := json.Marshal(res.StructuredContent)
			var got profile
			if err := json.Unmarshal(sc, &got); err != nil {
				t.Fatalf("structuredContent %s: %v", sc, err)
			}
			want := profile{Name: "Ada", Email: "a***@example.com", Card: "**** **** **** 1111"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("structured content (-want +got):\n%s", diff)
			}
			if txt := policytest.Text(res); strings.Contains(txt, "ada@") || !strings.Contains(txt, "a***@example.com") {
				t.Errorf("text content not masked: %q", txt)
			}

			// A blocked kind in results withholds the result as a tool error.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "config", Arguments: map[string]any{"text": ""}})
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError || strings.Contains(policytest.Text(res), "AKIA") || !strings.Contains(policytest.Text(res), "a secret") {
				t.Fatalf("secret in results: isError=%v text=%q", res.IsError, policytest.Text(res))
			}

			// Resource contents are results too.
			rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://customers"})
			if err != nil {
				t.Fatal(err)
			}
			if got := rr.Contents[0].Text; got != "a***@example.com, +** ** **** **58" {
				t.Fatalf("resource text %q", got)
			}
		})
	}
}

// TestRefusalCode checks the JSON-RPC error a blocked argument gets on the
// wire: jsonrpc.CodeForbidden.
func TestRefusalCode(t *testing.T) {
	up := newUpstream(t, true)
	p, _ := pii.New(pii.Options{Default: pii.Rule{Arguments: pii.Block}})
	gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}})
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"+44 20 7946 0958"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequest("POST", gw.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "echo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msg struct {
		ID    int            `json:"id"`
		Error *jsonrpc.Error `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		t.Fatal(err)
	}
	if msg.ID != 7 || msg.Error == nil || msg.Error.Code != jsonrpc.CodeForbidden || strings.Contains(msg.Error.Message, "7946") {
		t.Fatalf("answer %d %+v", resp.StatusCode, msg)
	}
	if len(up.received()) != 0 {
		t.Fatal("the upstream ran the refused call")
	}
}
