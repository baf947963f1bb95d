package gateway_test

import (
	"context"
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
