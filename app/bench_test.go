package app_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// BenchmarkProxyLean measures one legacy-session tools/call through the
// whole edge chain (request id and access log, body draining, recovery,
// security headers, telemetry) and the gateway, audit log and schema
// checks off, to an upstream answering with a fixed JSON result, over
// loopback HTTP on both sides and in one process: the allocations and CPU
// of "mcpfort serve" in the lean configuration, with the client's and the
// upstream's on top.
func BenchmarkProxyLean(b *testing.B) {
	const initResult = `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"bench","version":"1"}}}`
	const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if bytes.Contains(body, []byte(`"initialize"`)) {
			w.Header().Set("Mcp-Session-Id", "upstream-session-1")
			io.WriteString(w, initResult)
			return
		}
		if bytes.Contains(body, []byte(`"notifications/`)) {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		io.WriteString(w, result)
	}))
	b.Cleanup(up.Close)
	p := filepath.Join(b.TempDir(), "mcpfort.yaml")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
state: {dir: %q}
audit: {enabled: false}
policies:
  schema: {enabled: false}
servers:
  - name: echo
    path: /mcp
    http: {url: %q}
`, filepath.Dir(p), up.URL+"/mcp")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	c, err := config.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(c, app.Options{Version: "bench", Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	gw := httptest.NewServer(a.Handler())
	b.Cleanup(gw.Close)
	url := gw.URL + "/mcp"

	post := func(client *http.Client, body []byte, sid string) *http.Response {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return resp
	}
	resp := post(http.DefaultClient, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`), "")
	sid := resp.Header.Get("Mcp-Session-Id")
	if sid == "" {
		b.Fatal("no session")
	}
	call := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			post(client, call, sid)
		}
	})
}
