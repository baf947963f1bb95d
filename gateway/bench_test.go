package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

// BenchmarkProxyLegacyJSON measures one legacy-session tools/call through
// the gateway to an upstream that answers with a fixed JSON response, over
// real loopback HTTP on both sides (client, gateway and upstream share the
// process, so this is the whole round trip's CPU, not the gateway's alone).
func BenchmarkProxyLegacyJSON(b *testing.B) {
	const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, result)
	}))
	defer up.Close()
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, _ := remote.New(remote.Options{URL: up.URL})
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy})
	gw := httptest.NewServer(g)
	defer gw.Close()
	now := time.Now()
	st := &session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "upstream-session-1", Created: now, Expires: now.Add(time.Hour)}
	sid, _ := kr.Seal(st)
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			req, _ := http.NewRequest("POST", gw.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", sid)
			req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkRoundTrip measures one client's sequential round trip to an
// upstream directly and through the gateway, in one process over loopback:
// the difference is the latency the gateway adds, without the cost of
// scheduling three processes on a small machine.
func BenchmarkRoundTrip(b *testing.B) {
	const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, result)
	}))
	defer up.Close()
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, _ := remote.New(remote.Options{URL: up.URL})
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy})
	gw := httptest.NewServer(g)
	defer gw.Close()
	now := time.Now()
	sid, _ := kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "u", Created: now, Expires: now.Add(time.Hour)})
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	for _, tc := range []struct{ name, url string }{{"direct", up.URL}, {"gateway", gw.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{}}
			for b.Loop() {
				req, _ := http.NewRequest("POST", tc.url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
