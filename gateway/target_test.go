package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mcpfort/mcpfort/gateway/session"
)

// TestTargetMemberRequired sends, through a gateway without any policy,
// requests whose target member is misspelled or absent: the gateway
// answers -32602 itself and the upstream, which would read "Name" as
// "name" (Go's encoding/json), never sees them.
func TestTargetMemberRequired(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			ID     json.RawMessage
			Method string
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		mu.Lock()
		seen = append(seen, m.Method)
		mu.Unlock()
		result := `{}`
		if m.Method == "initialize" {
			result = `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"u","version":"1"}}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":` + result + `}`))
	}))
	defer up.Close()
	kr, _ := session.NewKeyring(session.GenerateSecret())
	h := hostileGateway(t, up.URL, kr, "r")
	w := do(t, h, exchange{body: initBody})
	sid := w.Header().Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("initialize: %d %s", w.Code, w.Body)
	}
	mu.Lock()
	seen = nil
	mu.Unlock()
	legacy := map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"Name":"delete_user"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"NAME":"p"}}`,
		`{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"Uri":"file:///etc/passwd"}}`,
		`{"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"URI":"file:///etc/passwd"}}`,
		`[{"jsonrpc":"2.0","id":8,"method":"ping"},{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"Name":"x"}}]`,
	} {
		w := do(t, h, exchange{body: body, headers: legacy})
		if code, _ := rpcError(t, w.Body.Bytes()); w.Code != http.StatusBadRequest || code != -32602 {
			t.Errorf("%s\nanswered %d %s, want 400 with -32602", body, w.Code, w.Body)
		}
	}
	// A method the 2026-07-28 revision removed is 404 -32601 there,
	// whatever its params (MCP 2026-07-28, removed methods).
	for _, method := range []string{"resources/subscribe", "resources/unsubscribe"} {
		body := `{"jsonrpc":"2.0","id":10,"method":"` + method + `","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
		w := do(t, h, exchange{body: body, headers: map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}})
		if code, _ := rpcError(t, w.Body.Bytes()); w.Code != http.StatusNotFound || code != -32601 {
			t.Errorf("removed %s without uri: %d %s, want 404 with -32601", method, w.Code, w.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Errorf("the upstream received %s", strings.Join(seen, ", "))
	}
}
