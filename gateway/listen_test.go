package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
)

func modernPost(t *testing.T, ctx context.Context, url, method, name, params string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(modernBody(method, params)))
	for k, v := range modernHeaders(method, name) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestListenOverLegacyUpstream: a 2026-07-28 client's subscriptions/listen
// stream is served from the legacy upstream session's GET stream.
func TestListenOverLegacyUpstream(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	up := newUpstream(t, stateful)
	gw := newGateway(t, up.URL, kr, gateway.EraAuto)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	listen := modernPost(t, ctx, gw.URL, "subscriptions/listen", "", `"notifications":{"toolsListChanged":true,"promptsListChanged":true}`)
	if listen.StatusCode != 200 || listen.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("listen: %d %s", listen.StatusCode, listen.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 8)
	go streamEvents(listen, func(ev sseEvent) bool { events <- ev; return true })
	ack := <-events
	if !strings.Contains(ack.data, "notifications/subscriptions/acknowledged") || !strings.Contains(ack.data, `"io.modelcontextprotocol/subscriptionId":7`) || !strings.Contains(ack.data, `"toolsListChanged":true`) {
		t.Fatalf("first event = %s", ack.data)
	}
	if strings.Contains(ack.data, "promptsListChanged") {
		t.Fatalf("acknowledged a notification the upstream cannot send: %s", ack.data)
	}
	r := modernPost(t, ctx, gw.URL, "tools/call", "add_tool", `"name":"add_tool","arguments":{"text":""}`)
	r.Body.Close()
	select {
	case ev := <-events:
		if !strings.Contains(ev.data, "notifications/tools/list_changed") || !strings.Contains(ev.data, `"io.modelcontextprotocol/subscriptionId":7`) {
			t.Fatalf("second event = %s", ev.data)
		}
	case <-ctx.Done():
		t.Fatal("no list_changed notification on the listen stream")
	}
}

// TestGetStreamOverModernUpstream: a legacy client's GET stream is served
// by a subscriptions/listen on the stateless upstream.
func TestGetStreamOverModernUpstream(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	up := newUpstream(t, modernOnly)
	gw := newGateway(t, up.URL, kr, gateway.EraAuto)
	c := &rawClient{t: t, url: gw.URL}
	c.initialize("2025-11-25")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", gw.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", c.sid)
	req.Header.Set("Mcp-Protocol-Version", c.version)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	events := make(chan sseEvent, 8)
	go streamEvents(resp, func(ev sseEvent) bool { events <- ev; return true })
	// The stream is open upstream once the gateway answered; give the
	// upstream's listen registration a moment by retrying the trigger.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.post(`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"add_tool","arguments":{"text":""}}}`)
		r.Body.Close()
		select {
		case ev := <-events:
			if !strings.Contains(ev.data, "notifications/tools/list_changed") {
				t.Fatalf("GET stream event = %s", ev.data)
			}
			return
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no list_changed notification on the GET stream")
			}
		}
	}
}

// TestLoggingAcrossEras: a 2026-07-28 request's _meta logLevel reaches a
// legacy upstream as logging/setLevel, and its logs come back on the
// request's stream; without a logLevel no log is sent. A legacy client's
// logging/setLevel reaches a stateless upstream as _meta logLevel.
func TestLoggingAcrossEras(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	readAll := func(resp *http.Response) string {
		var b strings.Builder
		streamEvents(resp, func(ev sseEvent) bool { b.WriteString(ev.data + "\n"); return true })
		return b.String()
	}
	gl := newGateway(t, newUpstream(t, stateful).URL, kr, gateway.EraAuto)
	withBody := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"logs","arguments":{"text":""},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"debug"}}}`
	req, _ := http.NewRequestWithContext(ctx, "POST", gl.URL, strings.NewReader(withBody))
	for k, v := range modernHeaders("tools/call", "logs") {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	with, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(with); !strings.Contains(got, "notifications/message") || !strings.Contains(got, "logged") {
		t.Fatalf("2026 request with logLevel through a legacy upstream:\n%s", got)
	}
	without := modernPost(t, ctx, gl.URL, "tools/call", "logs", `"name":"logs","arguments":{"text":""}`)
	var body strings.Builder
	io.Copy(&body, without.Body)
	without.Body.Close()
	if strings.Contains(body.String(), "notifications/message") {
		t.Fatalf("a log was sent to a request without logLevel:\n%s", body.String())
	}

	gm := newGateway(t, newUpstream(t, modernOnly).URL, kr, gateway.EraAuto)
	c := &rawClient{t: t, url: gm.URL}
	c.initialize("2025-11-25")
	r := c.post(`{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}`)
	r.Body.Close()
	r = c.post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"logs","arguments":{"text":""}}}`)
	if r.Header.Get("Content-Type") == "text/event-stream" {
		if got := readAll(r); !strings.Contains(got, "notifications/message") {
			t.Fatalf("legacy client with setLevel through a stateless upstream:\n%s", got)
		}
		return
	}
	r.Body.Close()
	t.Fatal("no stream, so no log, for a legacy client that set a level")
}
