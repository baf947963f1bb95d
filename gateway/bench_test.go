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

// proxyFixture is an upstream answering every POST with a fixed tools/call
// result, a gateway in front of it, and a legacy session on the gateway.
type proxyFixture struct {
	upstream, gateway string
	sid               string
}

func newProxyFixture(b *testing.B) *proxyFixture { return newProxyFixtureSSE(b, false) }

// newProxyFixtureSSE is newProxyFixture with an upstream that answers with
// an event stream (a progress notification, then the result) when sse is
// set.
func newProxyFixtureSSE(b *testing.B, sse bool) *proxyFixture {
	const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}]}}`
	const stream = "id: s1_1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n" +
		"id: s1_2\ndata: " + result + "\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if sse {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, stream)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, result)
	}))
	b.Cleanup(up.Close)
	g, sid := legacyGateway(b, up.URL)
	gw := httptest.NewServer(g)
	b.Cleanup(gw.Close)
	return &proxyFixture{upstream: up.URL, gateway: gw.URL, sid: sid}
}

// legacyGateway is a gateway on route "r" in front of the remote upstream
// at upstreamURL, forced to the legacy era, and the id of a legacy session
// on it (upstream session "upstream-session-1").
func legacyGateway(tb testing.TB, upstreamURL string) (*gateway.Gateway, string) {
	tb.Helper()
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, err := remote.New(remote.Options{URL: upstreamURL})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraLegacy})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	sid, err := kr.Seal(&session.State{ID: session.NewID(), Route: "r", Version: "2025-11-25", UpstreamSession: "upstream-session-1", Created: now, Expires: now.Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	return g, sid
}

var benchCall = []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)

// callRequest is benchCall posted to url in the legacy session sid.
func callRequest(url, sid string) *http.Request {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(benchCall))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	return req
}

// call posts one tools/call in the fixture's session and reads the answer.
func (f *proxyFixture) call(b *testing.B, client *http.Client, url string) {
	resp, err := client.Do(callRequest(url, f.sid))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkProxyLegacyJSON measures one legacy-session tools/call through
// the gateway to an upstream that answers with a fixed JSON response, over
// real loopback HTTP on both sides (client, gateway and upstream share the
// process, so this is the whole round trip's CPU, not the gateway's alone).
func BenchmarkProxyLegacyJSON(b *testing.B) {
	f := newProxyFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			f.call(b, client, f.gateway)
		}
	})
}

// BenchmarkProxyLegacySSE is BenchmarkProxyLegacyJSON with an upstream
// that answers with an event stream of two events, relayed as a stream.
func BenchmarkProxyLegacySSE(b *testing.B) {
	f := newProxyFixtureSSE(b, true)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			f.call(b, client, f.gateway)
		}
	})
}

// BenchmarkRoundTrip measures one client's sequential round trip to an
// upstream directly and through the gateway, in one process over loopback:
// the difference is the latency the gateway adds, without the cost of
// scheduling three processes on a small machine.
func BenchmarkRoundTrip(b *testing.B) {
	f := newProxyFixture(b)
	for _, tc := range []struct{ name, url string }{{"direct", f.upstream}, {"gateway", f.gateway}} {
		b.Run(tc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{}}
			for b.Loop() {
				f.call(b, client, tc.url)
			}
		})
	}
}

// BenchmarkProxyModernJSON is BenchmarkProxyLegacyJSON for a 2026-07-28
// client and upstream: no session, the request metadata checks (_meta,
// Mcp-Method, Mcp-Name, and Mcp-Param-* against the route's tool catalog)
// on every call.
func BenchmarkProxyModernJSON(b *testing.B) {
	const result = `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],"resultType":"complete"}}`
	const list = `{"jsonrpc":"2.0","id":"l","result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}],"resultType":"complete"}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Mcp-Method") == "tools/list" {
			io.WriteString(w, list)
			return
		}
		io.WriteString(w, result)
	}))
	b.Cleanup(up.Close)
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, _ := remote.New(remote.Options{URL: up.URL})
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraModern})
	gw := httptest.NewServer(g)
	b.Cleanup(gw.Close)
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for pb.Next() {
			req, _ := http.NewRequest("POST", gw.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
			req.Header.Set("Mcp-Method", "tools/call")
			req.Header.Set("Mcp-Name", "echo")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(got, []byte(`"hello"`)) {
				b.Fatalf("status %d: %s", resp.StatusCode, got)
			}
		}
	})
}
