package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

type principalKey struct{}

// hostileGateway fronts a real go-sdk upstream. The caller's principal
// comes from the X-Test-User header, standing in for token validation.
func hostileGateway(t testing.TB, upstreamURL string, kr *session.Keyring, route string) http.Handler {
	up, err := remote.New(remote.Options{URL: upstreamURL})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Options{Route: route, Upstream: up, Keyring: kr, MaxBody: 64 << 10,
		Principal: func(ctx context.Context) *gateway.Principal {
			p, _ := ctx.Value(principalKey{}).(*gateway.Principal)
			return p
		}})
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, &gateway.Principal{Issuer: "https://as", Subject: u}))
		}
		g.ServeHTTP(w, r)
	})
}

type exchange struct {
	method  string
	body    string
	headers map[string]string
}

func do(t testing.TB, h http.Handler, ex exchange) *httptest.ResponseRecorder {
	method := ex.method
	if method == "" {
		method = "POST"
	}
	r := httptest.NewRequest(method, "http://127.0.0.1:8080/mcp", strings.NewReader(ex.body))
	if method == "POST" {
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range ex.headers {
		if k == "Host" {
			r.Host = v
			continue
		}
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func rpcError(t testing.TB, body []byte) (code int64, data json.RawMessage) {
	var m struct {
		Error *struct {
			Code int64           `json:"code"`
			Data json.RawMessage `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Error == nil {
		t.Fatalf("body is not a JSON-RPC error: %q", body)
	}
	return m.Error.Code, m.Error.Data
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`

func modernHeaders(method, name string) map[string]string {
	h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}
	if name != "" {
		h["Mcp-Name"] = name
	}
	return h
}

func modernBody(method, params string) string {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	if params != "" {
		params += ","
	}
	return `{"jsonrpc":"2.0","id":7,"method":"` + method + `","params":{` + params + meta + `}}`
}

func TestHostileInput(t *testing.T) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	legacyUp := newUpstream(t, stateful)
	modernUp := newUpstream(t, stateless)
	g := hostileGateway(t, legacyUp.URL, kr, "everything")
	gm := hostileGateway(t, modernUp.URL, kr, "everything")
	other := hostileGateway(t, legacyUp.URL, kr, "other-route")

	// A real session for alice.
	w := do(t, g, exchange{body: initBody, headers: map[string]string{"X-Test-User": "alice"}})
	sid := w.Header().Get("Mcp-Session-Id")
	if w.Code != 200 || sid == "" {
		t.Fatalf("initialize: %d %q", w.Code, w.Body)
	}
	alice := func(extra map[string]string) map[string]string {
		h := map[string]string{"Mcp-Session-Id": sid, "X-Test-User": "alice", "Mcp-Protocol-Version": "2025-11-25"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	deep := strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)

	tests := []struct {
		name   string
		h      http.Handler
		ex     exchange
		status int
		code   int64 // JSON-RPC error code expected in the body (0: not checked)
	}{
		{"wrong content type", g, exchange{body: initBody, headers: map[string]string{"Content-Type": "text/plain"}}, 415, -32600},
		{"accept rules out SSE", g, exchange{body: initBody, headers: map[string]string{"Accept": "application/json"}}, 406, -32600},
		{"oversized body", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"x","params":{"p":"` + strings.Repeat("a", 70<<10) + `"}}`}, 413, -32600},
		{"malformed JSON", g, exchange{body: `{"jsonrpc":"2.0",`}, 400, -32700},
		{"invalid UTF-8", g, exchange{body: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}"}, 400, -32700},
		{"too deep", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"x","params":` + deep + `}`}, 400, -32700},
		{"duplicate keys", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`}, 400, -32700},
		{"not JSON-RPC", g, exchange{body: `{"hello":"world"}`}, 400, -32600},
		{"null request id", g, exchange{body: `{"jsonrpc":"2.0","id":null,"method":"ping"}`, headers: alice(nil)}, 400, -32600},
		{"no session", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`}, 400, -32600},
		{"garbage session", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, headers: map[string]string{"Mcp-Session-Id": "garbage"}}, 404, 0},
		{"session of another principal", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, headers: alice(map[string]string{"X-Test-User": "mallory"})}, 404, 0},
		{"session without a principal", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, headers: alice(map[string]string{"X-Test-User": ""})}, 404, 0},
		{"session of another route", other, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, headers: alice(nil)}, 404, 0},
		{"unsupported version header", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, headers: alice(map[string]string{"Mcp-Protocol-Version": "1999-01-01"})}, 400, -32022},
		{"older supported version header", g, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, headers: alice(map[string]string{"Mcp-Protocol-Version": "2025-03-26"})}, 200, 0},
		{"batch outside 2025-03-26", g, exchange{body: `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, headers: alice(nil)}, 400, -32600},
		{"foreign origin", g, exchange{body: initBody, headers: map[string]string{"Origin": "https://evil.example.com"}}, 403, -32600},
		{"foreign host", g, exchange{body: initBody, headers: map[string]string{"Host": "evil.example.com"}}, 403, 0},
		{"PUT", g, exchange{method: "PUT"}, 405, 0},
		{"GET without session", g, exchange{method: "GET"}, 405, 0},
		{"DELETE without session", g, exchange{method: "DELETE"}, 405, 0},
		{"GET with garbage session", g, exchange{method: "GET", headers: map[string]string{"Mcp-Session-Id": "x"}}, 404, 0},
		{"GET with control character in Last-Event-ID", g, exchange{method: "GET", headers: alice(map[string]string{"Accept": "text/event-stream", "Last-Event-Id": "1\x7f"})}, 400, -32600},
		{"GET with oversized Last-Event-ID", g, exchange{method: "GET", headers: alice(map[string]string{"Accept": "text/event-stream", "Last-Event-Id": strings.Repeat("1", 257)})}, 400, -32600},

		// 2026-07-28 checks (streamable-http "Server Validation"; basic/index "_meta").
		{"modern ok", gm, exchange{body: modernBody("tools/list", ""), headers: modernHeaders("tools/list", "")}, 200, 0},
		{"modern missing capabilities", gm, exchange{body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, headers: modernHeaders("tools/list", "")}, 400, -32602},
		{"modern header missing", gm, exchange{body: modernBody("tools/list", ""), headers: map[string]string{"Mcp-Method": "tools/list"}}, 400, -32020},
		{"modern header differs from _meta", gm, exchange{body: modernBody("tools/list", ""), headers: map[string]string{"Mcp-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/list"}}, 400, -32020},
		{"modern Mcp-Method missing", gm, exchange{body: modernBody("tools/list", ""), headers: map[string]string{"Mcp-Protocol-Version": "2026-07-28"}}, 400, -32020},
		{"modern Mcp-Method mismatch", gm, exchange{body: modernBody("tools/list", ""), headers: modernHeaders("prompts/list", "")}, 400, -32020},
		{"modern Mcp-Name missing", gm, exchange{body: modernBody("tools/call", `"name":"echo","arguments":{"text":"x"}`), headers: modernHeaders("tools/call", "")}, 400, -32020},
		{"modern Mcp-Name mismatch", gm, exchange{body: modernBody("tools/call", `"name":"echo","arguments":{"text":"x"}`), headers: modernHeaders("tools/call", "progress")}, 400, -32020},
		{"modern Mcp-Name base64", gm, exchange{body: modernBody("tools/call", `"name":"echo","arguments":{"text":"x"}`), headers: modernHeaders("tools/call", "=?base64?ZWNobw==?=")}, 200, 0},
		{"modern Mcp-Name bad base64", gm, exchange{body: modernBody("tools/call", `"name":"echo","arguments":{"text":"x"}`), headers: modernHeaders("tools/call", "=?base64?***?=")}, 400, -32020},
		{"modern unsupported version", gm, exchange{body: strings.ReplaceAll(modernBody("tools/list", ""), "2026-07-28", "2099-01-01"), headers: map[string]string{"Mcp-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"}}, 400, -32022},
		{"modern initialize", gm, exchange{body: modernBody("initialize", `"protocolVersion":"2026-07-28","capabilities":{},"clientInfo":{"name":"c","version":"1"}`), headers: modernHeaders("initialize", "")}, 404, -32601},
		{"modern removed method", gm, exchange{body: modernBody("ping", ""), headers: modernHeaders("ping", "")}, 404, -32601},
		{"modern client response", gm, exchange{body: `{"jsonrpc":"2.0","id":1,"result":{}}`, headers: modernHeaders("", "")}, 400, -32600},
		{"modern batch", gm, exchange{body: "[" + modernBody("tools/list", "") + "]", headers: modernHeaders("tools/list", "")}, 400, -32600},
		{"modern GET", gm, exchange{method: "GET", headers: map[string]string{"Mcp-Protocol-Version": "2026-07-28"}}, 405, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(t, tt.h, tt.ex)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			if tt.code != 0 {
				code, _ := rpcError(t, w.Body.Bytes())
				if code != tt.code {
					t.Fatalf("JSON-RPC code = %d, want %d; body %q", code, tt.code, w.Body)
				}
			}
			if w.Code >= 400 {
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("error Content-Type = %q, want application/json", ct)
				}
			}
		})
	}

	t.Run("unsupported version names the supported ones", func(t *testing.T) {
		w := do(t, gm, exchange{body: strings.ReplaceAll(modernBody("tools/list", ""), "2026-07-28", "2099-01-01"), headers: map[string]string{"Mcp-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"}})
		_, data := rpcError(t, w.Body.Bytes())
		var d struct {
			Supported []string `json:"supported"`
			Requested string   `json:"requested"`
		}
		if err := json.Unmarshal(data, &d); err != nil || d.Requested != "2099-01-01" || len(d.Supported) == 0 || d.Supported[0] != "2026-07-28" {
			t.Fatalf("data = %s", data)
		}
	})
	t.Run("modern never mints sessions", func(t *testing.T) {
		w := do(t, gm, exchange{body: modernBody("tools/list", ""), headers: modernHeaders("tools/list", "")})
		if w.Header().Get("Mcp-Session-Id") != "" {
			t.Fatal("a 2026-07-28 response carried Mcp-Session-Id")
		}
	})
	t.Run("no token passthrough", func(t *testing.T) {
		var seen []string
		spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = append(seen, r.Header.Get("Authorization"), r.Header.Get("Cookie"))
			body, _ := io.ReadAll(r.Body)
			req, _ := http.NewRequest(r.Method, legacyUp.URL, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				w.WriteHeader(502)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		}))
		defer spy.Close()
		h := hostileGateway(t, spy.URL, kr, "everything")
		w := do(t, h, exchange{body: initBody, headers: map[string]string{"Authorization": "Bearer client-secret-token", "Cookie": "c=1"}})
		if w.Code != 200 {
			t.Fatalf("initialize: %d", w.Code)
		}
		for _, v := range seen {
			if v != "" {
				t.Fatalf("client credentials reached the upstream: %q", v)
			}
		}
	})
}

func FuzzPOST(f *testing.F) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	up := newUpstream(f, stateless)
	g := hostileGateway(f, up.URL, kr, "everything")
	f.Add([]byte(initBody), "", "")
	f.Add([]byte(modernBody("tools/call", `"name":"echo","arguments":{"text":"x"}`)), "2026-07-28", "tools/call")
	f.Add([]byte(`[{"jsonrpc":"2.0","id":1,"method":"ping"}]`), "2025-03-26", "")
	f.Fuzz(func(t *testing.T, body []byte, version, method string) {
		hs := map[string]string{}
		if version != "" && !strings.ContainsAny(version, "\r\n\x00") {
			hs["Mcp-Protocol-Version"] = version
		}
		if method != "" && !strings.ContainsAny(method, "\r\n\x00") {
			hs["Mcp-Method"] = method
		}
		w := do(t, g, exchange{body: string(body), headers: hs})
		if w.Code >= 400 && w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d without a JSON body", w.Code)
		}
		if w.Code == 500 {
			t.Fatalf("500 for body %q", body)
		}
	})
}
