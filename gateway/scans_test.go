//go:build jsonxcount

package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// countingUpstream answers tools/list with one tool and anything else with
// a fixed result, and notes how many bytes the JSON scanner had passed over
// when the request reached it.
type countingUpstream struct {
	atPost int64
	result []byte
}

func (u *countingUpstream) Post(_ context.Context, req *upstream.Request) (upstream.Reply, error) {
	u.atPost = jsonx.Scanned()
	if strings.Contains(string(req.Body), `"tools/list"`) {
		return upstream.Message([]byte(`{"jsonrpc":"2.0","id":"list","result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}}`)), nil
	}
	return upstream.Message(u.result), nil
}
func (*countingUpstream) Get(context.Context, *upstream.Request) (upstream.Reply, error) {
	return nil, upstream.ErrNotSupported
}
func (*countingUpstream) Delete(context.Context, *upstream.Request) error { return nil }
func (*countingUpstream) Close(context.Context) error                     { return nil }

// TestScansPerCall counts how much JSON the gateway reads for one
// tools/call: the bytes its scanner passes over on the way in (client to
// upstream) and on the way back (upstream to client), in multiples of the
// message's length. Run with -tags jsonxcount -v; docs/architecture.md
// reports the figures. Each policy that reads the reply (two here, as
// list filtering and result masking do) shares the reply's one decode; a
// policy that rewrites the request pays one validating scan of what it
// wrote.
func TestScansPerCall(t *testing.T) {
	const result = `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello, this is the tool's answer"}]}}`
	readReply := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			r, err := next(ctx, c)
			if err != nil {
				return nil, err
			}
			return gateway.TransformReply(r, func(ev *upstream.Event) ([]byte, error) {
				if _, err := ev.Message(); err != nil {
					return nil, err
				}
				return ev.Data, nil
			}), nil
		}
	}
	rewrite := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			body := []byte(strings.Replace(string(c.Body()), "hello", "HELLO", 1))
			if err := c.SetBody(body); err != nil {
				return nil, err
			}
			return next(ctx, c)
		}
	}
	legacyBody := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello","count":3,"tags":["a","b"]}}}`
	for _, tc := range []struct {
		name       string
		era        gateway.UpstreamEra
		legacy     bool
		middleware []gateway.Middleware
		maxIn      float64 // scans of the body, at most
		maxOut     float64 // decodes of the reply, at most
	}{
		{"2026 client, no policy", gateway.EraModern, false, nil, 1.05, 1.05},
		{"2026 client, two reply readers", gateway.EraModern, false, []gateway.Middleware{readReply, readReply}, 1.05, 1.05},
		{"2026 client, a rewriting policy", gateway.EraModern, false, []gateway.Middleware{rewrite}, 2.05, 1.05},
		{"legacy client, no policy", gateway.EraLegacy, true, nil, 1.05, 1.05},
		{"legacy client, two reply readers", gateway.EraLegacy, true, []gateway.Middleware{readReply, readReply}, 1.05, 1.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &countingUpstream{result: []byte(result)}
			kr, _ := session.NewKeyring(session.GenerateSecret())
			g, err := gateway.New(gateway.Options{Route: "r", Upstream: up, Keyring: kr, UpstreamEra: tc.era, Middleware: tc.middleware})
			if err != nil {
				t.Fatal(err)
			}
			body, hdr := modernBody("tools/call", `"name":"echo","arguments":{"text":"hello","count":3,"tags":["a","b"]}`), modernHeaders("tools/call", "echo")
			if tc.legacy {
				now := time.Now()
				sid, _ := kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "u", Created: now, Expires: now.Add(time.Hour)})
				body, hdr = legacyBody, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}
			}
			call := func() *httptest.ResponseRecorder {
				r := httptest.NewRequest("POST", "http://127.0.0.1/mcp", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Accept", "application/json, text/event-stream")
				for k, v := range hdr {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				g.ServeHTTP(w, r)
				return w
			}
			call() // fills the tool catalog, which the 2026-07-28 header checks read
			start := jsonx.Scanned()
			w := call()
			end := jsonx.Scanned()
			if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "the tool's answer") {
				t.Fatalf("status %d: %s", w.Code, w.Body.Bytes())
			}
			in := float64(up.atPost-start) / float64(len(body))
			out := float64(end-up.atPost) / float64(len(result))
			t.Logf("way in: %.2f scans of the %d-byte body; way back: %.2f decodes of the %d-byte reply", in, len(body), out, len(result))
			if in > tc.maxIn || out > tc.maxOut {
				t.Errorf("in %.2f (at most %.2f), out %.2f (at most %.2f)", in, tc.maxIn, out, tc.maxOut)
			}
		})
	}
}
