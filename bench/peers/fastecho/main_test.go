package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/bench/load"
)

func TestHandle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(handle))
	defer srv.Close()
	tests := []struct {
		name, method, body string
		status             int
		want               string
	}{
		{"initialize", "POST", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`, 200,
			`{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"fastecho","version":"1.0.0"}}}`},
		{"notification", "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 202, ``},
		{"echo keeps the id and escapes the text", "POST", `{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo","arguments":{"text":"x\"<y"}}}`, 200,
			`{"jsonrpc":"2.0","id":"a","result":{"content":[{"type":"text","text":"x\"\u003cy"}]}}`},
		{"unknown tool", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}`, 200,
			`{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unknown tool"}}`},
		{"unknown method", "POST", `{"jsonrpc":"2.0","id":2,"method":"x\"y"}`, 200,
			`{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found: x\"y"}}`},
		{"parse error", "POST", `{`, 200, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`},
		{"GET", "GET", ``, 405, "method not allowed\n"},
		{"DELETE", "DELETE", ``, 200, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || string(b) != tt.want {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
}

// TestUnderLoad runs the load generator against fastecho: every call
// verified, none failed.
func TestUnderLoad(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", handle)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := load.Run(context.Background(), load.Options{URL: srv.URL + "/mcp", VUs: 4, Warmup: -1, Duration: 100 * time.Millisecond})
	if err != nil || res.Calls == 0 || res.Failures() != 0 {
		t.Fatalf("Run: %v; %d calls, %d failures: %v", err, res.Calls, res.Failures(), res.Samples)
	}
}

// TestSSEAndDelay: with -sse and -delay, tools/call is answered after the
// delay as one message event carrying the same response; other methods
// stay JSON.
func TestSSEAndDelay(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echo{sse: true, delay: 20 * time.Millisecond}.serve))
	defer srv.Close()
	post := func(body string) (*http.Response, string, time.Duration) {
		start := time.Now()
		resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b), time.Since(start)
	}
	resp, body, took := post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	want := "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n\n"
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || body != want {
		t.Errorf("tools/call: %s %q, want text/event-stream %q", ct, body, want)
	}
	if took < 20*time.Millisecond {
		t.Errorf("tools/call answered after %s, want at least the 20ms delay", took)
	}
	resp, body, _ = post(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || body != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Errorf("ping: %s %q", ct, body)
	}
}
